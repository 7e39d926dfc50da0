"""The OpenAPI schema documents the public endpoints, their examples and every error code."""

import re

import pytest

from apps.user_attributes.validation import Reason

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def test_public_endpoints_are_documented(schema):
    identify = schema["paths"]["/api/v1/sites/{site_key}/identify"]["post"]
    sessions = schema["paths"]["/api/v1/sites/{site_key}/sessions"]["post"]

    # a method not taken, a format other than JSON, a body too large or not JSON, the
    # database away: every endpoint may answer them
    common = {"405", "406", "413", "415", "500", "503"}
    assert set(identify["responses"]) == {"200", "400", "403", "404", "409", "429", *common}
    assert set(sessions["responses"]) >= {"200", "400", "404", "409", "429", *common}
    page_visit = sessions["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert "duplicate" in schema["components"]["schemas"][page_visit.split("/")[-1]]["properties"]
    assert "user_id" not in schema["components"]["schemas"]["IdentifyRequest"]["required"]
    # what the API takes, the schema says: a null message_id, an emotion of 1 to 5 only
    assert schema["components"]["schemas"]["IdentifyRequest"]["properties"]["message_id"][
        "nullable"
    ]
    emotion = schema["components"]["schemas"]["WidgetAnswerRequest"]["properties"]["emotion"]
    assert (emotion["minimum"], emotion["maximum"]) == (1, 5)
    for path in schema["paths"].values():
        for operation in path.values():
            if operation["operationId"] != "tracking_script":  # JavaScript, not the JSON API
                assert {"405", "406", "500", "503"} <= set(operation["responses"]), operation

    examples = identify["requestBody"]["content"]["application/json"]["examples"]
    assert examples["PayingCustomer"]["value"]["attributes"] == {
        "total_spend": 500,
        "first_purchase": "2019-06-20Z",
    }


def test_every_error_and_rejection_code_is_documented(schema):
    identify = schema["paths"]["/api/v1/sites/{site_key}/identify"]["post"]
    text = str(identify)
    for code in (
        "malformed_body",
        "invalid_visitor_id",
        "invalid_user_id",
        "invalid_message_id",
        "invalid_attributes",
        "user_attributes_disabled",
        "plan_not_eligible",
        "origin_not_allowed",
        "unknown_site",
        "throttled",
        "message_id_conflict",
        "body_too_large",
        "unsupported_media_type",
        "service_unavailable",
        "concurrent_change",
        *Reason.MESSAGES,
    ):
        assert code in text, code


def test_every_operation_that_reads_parameters_lists_bad_request(schema):
    """Any call with more than 1,000 parameters is a 400 bad_request (docs/api.md)."""
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            bad = operation["responses"].get("400", {})
            assert "bad_request" in str(bad), (method, path)


def test_docs_page_loads_nothing_from_outside_the_server(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/api/schema/" in html
    assert not re.search(r"""(src|href)=["']https?://""", html)


@pytest.mark.parametrize(
    ("method", "headers", "status", "code"),
    [
        ("post", {}, 405, "method_not_allowed"),
        ("get", {"HTTP_ACCEPT": "text/html"}, 406, "not_acceptable"),
    ],
)
def test_the_schemas_own_errors_are_json(client, method, headers, status, code):
    response = getattr(client, method)("/api/schema/", **headers)

    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == code


@pytest.mark.parametrize("path", ["/api/schema/", "/api/v1/sites/nokey/lookup"])
def test_a_format_no_renderer_has_is_406_not_404(client, path):
    response = client.get(path, {"format": "xml"})

    assert response.status_code == 406
    assert response.json()["code"] == "not_acceptable"


def test_the_schema_still_comes_in_yaml_and_json(client):
    assert client.get("/api/schema/?format=yaml").content.startswith(b"openapi:")
    assert client.get("/api/schema/?format=json").json()["openapi"].startswith("3.")


def test_the_tracking_script_is_in_the_contract(schema, client, site):
    script = schema["paths"]["/t/{site_key}.js"]["get"]
    served = client.get(f"/t/{site.key}.js")

    assert set(script["responses"]) == {"200", "404"}
    assert served["Content-Type"].split(";")[0] in script["responses"]["200"]["content"]
