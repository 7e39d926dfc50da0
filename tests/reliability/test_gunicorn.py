"""The production gunicorn configuration: workers forked from a preloaded app.

With `preload_app` the master imports the app once and every worker is a fork of it, so
nothing may connect at import time: each worker must open its own database connection
and its own Redis client, also after it is recycled.
"""

import os
import runpy
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from apps.accounts.models import Membership
from apps.identity.models import Profile
from tests.factories import MembershipFactory, SiteFactory
from tests.feedback_targeting.factories import WidgetFactory, feedback_with_comments
from tests.reliability.test_faults import free_port, post, wait_until_serving

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("on_postgres")]
ROOT = Path(__file__).resolve().parents[2]


def test_the_app_imports_without_reaching_its_database_or_cache():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        # Nothing listens on port 1: a connection made at import would fail the import.
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/nothing",
        "CACHE_URL": "redis://127.0.0.1:1/0",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import config.wsgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr


def test_recycled_preloaded_workers_serve_identify_with_their_own_connections(tmp_path):
    assert runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))["preload_app"] is True
    db = settings.DATABASES["default"]
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        "CONN_MAX_AGE": "60",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "REQUEST_LOG_LEVEL": "WARNING",
    }
    site = SiteFactory()
    with log.open("w") as out:
        server = subprocess.Popen(
            # The production configuration, with workers recycled every few requests.
            [
                *(sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py"),
                *("--max-requests", "5", "--max-requests-jitter", "0", "config.wsgi"),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(base)
        answers = [
            post(
                f"{base}/api/v1/sites/{site.key}/identify",
                {
                    "visitor_id": f"device{i}".ljust(32, "x"),
                    "user_id": f"user-{i}",
                    "attributes": {"seq": i},
                },
            )
            for i in range(30)
        ]
    finally:
        server.terminate()
        server.wait(timeout=20)

    assert [status for status, _ in answers] == [200] * 30, answers
    assert Profile.objects.filter(site=site).count() == 30
    booted = log.read_text().count("Booting worker with pid")
    assert booted >= 6, log.read_text()[-2000:]


def test_an_export_longer_than_the_worker_timeout_reaches_its_end(tmp_path, client):
    """gunicorn kills a sync worker that has not reported for its timeout. An export that
    streams rows for longer (here to a client reading slowly) reports its progress, and
    the file arrives whole; before, it was cut off where the worker was killed."""
    member = MembershipFactory(role=Membership.Role.MEMBER)
    site = SiteFactory(account=member.account)
    widget = WidgetFactory(site=site, kind="feedback")
    rows = 10_000
    feedback_with_comments(widget, rows, comment_length=2000)
    client.force_login(member.user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    port = free_port()
    path = reverse("widgets:results_csv", args=[site.account.slug, site.key, widget.pk])
    with (tmp_path / "gunicorn.log").open("w") as out:
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py"),
                *("--timeout", "2", "config.wsgi"),
            ],
            cwd=ROOT,
            env={**_server_env(port), "WEB_CONCURRENCY": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}")
        started = time.monotonic()
        body = _read_slowly(port, path, cookie)
        took = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=20)

    assert took > 3, "the export must outlast the worker's timeout to show anything"
    head, _, csv_text = body.partition(b"\r\n\r\n")
    assert head.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")), head[:200]
    lines = csv_text.decode("utf-8", errors="replace").splitlines()
    assert lines[-1].split(",")[5].startswith(f"comment {rows - 1} ")
    assert "WORKER TIMEOUT" not in (tmp_path / "gunicorn.log").read_text()


def _server_env(port: int) -> dict[str, str]:
    db = settings.DATABASES["default"]
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        "PORT": str(port),
        "REQUEST_LOG_LEVEL": "WARNING",
    }


def _read_slowly(port: int, path: str, cookie: str) -> bytes:
    """GET `path` with a small receive window, 64 kB every 10 ms at most: the worker waits
    on its writes for seconds."""
    with socket.socket() as conn:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        conn.connect(("127.0.0.1", port))
        conn.sendall(
            # HTTP/1.0: the body as it is, not in chunks, ending where the connection does.
            f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        received = bytearray()
        while piece := conn.recv(64 * 1024):
            received += piece
            time.sleep(0.01)
    return bytes(received)
