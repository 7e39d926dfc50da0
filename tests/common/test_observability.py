"""Request ids, JSON logs, security headers, the health endpoint and 503 on a lost database."""

import json
import logging

import pytest
from django.db import OperationalError

from apps.common.observability import JsonFormatter, SecretPathFilter, request_id_var

pytestmark = pytest.mark.django_db


def test_health_checks_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_every_response_carries_a_request_id(client):
    generated = client.get("/healthz")["X-Request-ID"]
    kept = client.get("/healthz", HTTP_X_REQUEST_ID="lb-1234567890")["X-Request-ID"]
    refused = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\n")["X-Request-ID"]

    assert len(generated) == 32
    assert kept == "lb-1234567890"
    assert refused != "bad id\n"
    assert len(refused) == 32


def test_pages_get_a_content_security_policy(client):
    policy = client.get("/login/")["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self';" in policy
    assert "frame-ancestors 'none'" in policy


def test_json_log_lines_carry_the_request_id():
    record = logging.LogRecord(
        "cohort.request", logging.INFO, __file__, 1, "%s %s", ("GET", "/healthz"), None
    )
    record.status = 200
    token = request_id_var.set("abc123abc123")
    try:
        from apps.common.observability import RequestIdFilter

        RequestIdFilter().filter(record)
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["request_id"] == "abc123abc123"
    assert line["status"] == 200
    assert line["level"] == "INFO"
    assert line["message"] == "GET /healthz"
    assert line["time"].endswith("Z")


def test_a_lost_database_is_a_json_503_on_the_api(api_client, site, monkeypatch):
    from apps.identity import apis

    def database_gone(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(apis, "visitor_identify", database_gone)

    response = api_client.post(
        f"/api/v1/sites/{site.key}/identify",
        {"visitor_id": "v" * 32, "user_id": "u1", "attributes": {}},
        format="json",
    )

    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"
    assert response["Retry-After"] == "5"


def test_the_request_log_keeps_no_secret_of_a_link(client, caplog):
    paths = [
        "/invite/s3cr3t-invitation-link-value/",
        "/invite/s3cr3t-invitation-link-value",  # no slash: does not resolve
        "/password/reset/MQ/s3cr3t-reset-token/",
        "/password/reset/sent/",
        "/confirm/eyJzM2NyM3QiOjF9:s3cr3t:confirm-link/",
    ]
    with caplog.at_level(logging.INFO, logger="cohort.request"):
        for path in paths:
            client.get(path)

    logged = [record.path for record in caplog.records if hasattr(record, "path")]
    assert logged == [
        "/invite/[secret]/",
        "/invite/[secret]",
        "/password/reset/MQ/[secret]/",
        "/password/reset/sent/",
        "/confirm/[secret]/",
    ]
    assert "s3cr3t" not in caplog.text


def test_no_handler_writes_a_link_secret_from_djangos_own_lines():
    record = logging.LogRecord(
        "django.request",
        logging.ERROR,
        __file__,
        1,
        "%s: %s",
        ("Internal Server Error", "/invite/s3cr3t-invitation-link-value/"),
        None,
    )

    assert SecretPathFilter().filter(record)
    assert record.getMessage() == "Internal Server Error: /invite/[secret]/"
    # the console handler the settings configure (pytest adds handlers of its own)
    configured = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    assert configured
    assert all(any(isinstance(f, SecretPathFilter) for f in h.filters) for h in configured)
