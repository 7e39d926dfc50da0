"""The production gunicorn configuration: workers forked from a preloaded app.

With `preload_app` the master imports the app once and every worker is a fork of it, so
nothing may connect at import time: each worker must open its own database connection
and its own Redis client, also after it is recycled.
"""

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from apps.identity.models import Profile
from tests.factories import SiteFactory
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
