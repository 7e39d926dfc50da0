"""The bench's in-process group: requests through Django's WSGI handler, their CPU per
request on both sides of the connection, and a request's app CPU split into layers."""

import cProfile
import json
import os
import pstats
import sysconfig
import time

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from bench.inprocess import (
    BASE_DIR,
    LAYERS,
    WsgiClient,
    checked,
    layer_of,
    layer_shares,
    measure,
    round_ratios,
    run_group,
)
from bench.postgres import prewarm
from bench.report import table
from bench.run import GOALS
from tests.factories import SiteFactory

SITE_PACKAGES = "/srv/venv/lib/python3.11/site-packages"


@pytest.mark.parametrize(
    ("filename", "layer"),
    [
        (f"{SITE_PACKAGES}/rest_framework/views.py", "DRF"),
        (f"{SITE_PACKAGES}/django/db/backends/utils.py", "Django ORM"),
        (f"{SITE_PACKAGES}/django/core/handlers/base.py", "Django"),
        (f"{SITE_PACKAGES}/asgiref/local.py", "Django"),
        (f"{SITE_PACKAGES}/psycopg/cursor.py", "psycopg"),
        (f"{SITE_PACKAGES}/redis/client.py", "Redis"),
        (f"{SITE_PACKAGES}/whitenoise/middleware.py", "other"),
        (f"{BASE_DIR}/apps/identity/services.py", "project"),
        (f"{BASE_DIR}/bench/inprocess.py", "harness"),
        (f"{sysconfig.get_paths()['stdlib']}/json/encoder.py", "stdlib"),
        ("<frozen _collections_abc>", "stdlib"),
        ("<string>", "other"),
    ],
)
def test_a_function_belongs_to_the_layer_of_its_file(filename, layer):
    assert layer_of(filename) == layer


@pytest.fixture
def connection_kept():
    """The test's transaction stays open across the requests: Django's handler would close
    the connection at each request's start and end (as Django's test client prevents)."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def _stats_entry(own: float, callers: dict | None = None) -> tuple:
    return (1, 1, own, own, callers or {})


def test_a_c_function_counts_for_the_layers_that_called_it():
    project = (f"{BASE_DIR}/apps/common/sql.py", 10, "fetch_all")
    driver = (f"{SITE_PACKAGES}/psycopg/cursor.py", 20, "execute")
    stats = {
        project: _stats_entry(0.2),
        driver: _stats_entry(0.1),
        # A socket read: 0.3 s called from psycopg, 0.1 s from the project's code.
        ("~", 0, "<method 'recv' of '_socket.socket' objects>"): _stats_entry(
            0.4, {driver: (1, 1, 0.3, 0.3), project: (1, 1, 0.1, 0.1)}
        ),
    }

    shares = layer_shares(stats)

    assert shares["psycopg"] == pytest.approx(0.4 / 0.7, abs=0.001)
    assert shares["project"] == pytest.approx(0.3 / 0.7, abs=0.001)
    assert set(shares) == set(LAYERS)
    assert sum(shares.values()) == pytest.approx(1, abs=0.005)


def test_a_profiled_call_is_split_by_where_its_time_went():
    def sort_often():
        for _ in range(200):
            sorted(range(2000), key=lambda n: -n)

    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    sort_often()
    profiler.disable()

    shares = layer_shares(pstats.Stats(profiler).stats)

    # The test module is the project's code; the built-in sort counts for its caller.
    assert shares["project"] > 0.95
    assert shares["Django"] == shares["psycopg"] == 0


def test_a_ratio_is_taken_round_by_round_from_app_and_database_cpu():
    def run(app, db):
        return {"app_cpu_ms": app, "db_cpu_ms": db}

    runs = {
        # The machine slows down in the third round: both kinds cost more there.
        "B0": [run(1.0, 0), run(1.0, 0), run(3.0, 0)],
        "B2": [run(4.0, 4.0), run(2.0, 2.0), run(8.0, 4.0)],
    }

    ratio = round_ratios(runs, {"B2/B0": ("B2", "B0")})["B2/B0"]

    # Per round 1/8, 1/4 and 3/12; the ratio of the medians (1 / 8) would be 0.125.
    assert ratio == {"median": 0.25, "min": 0.125, "max": 0.25}


@pytest.mark.django_db
@pytest.mark.usefixtures("connection_kept")
def test_requests_go_through_the_production_handler_and_an_error_answer_stops_the_group():
    site = SiteFactory()
    client = WsgiClient()
    body = json.dumps({"visitor_id": "v" * 20, "user_id": "u1", "attributes": {"plan": "pro"}})

    status, content = client.request(
        "POST", f"/api/v1/sites/{site.key}/identify", body=body.encode()
    )

    assert status == 200
    assert json.loads(content)["stored"] == ["plan"]
    status, content = client.request("GET", "/api/v1/sites/nosuchsite0000000000/widgets")
    assert status == 404
    with pytest.raises(RuntimeError, match="answered 404"):
        checked(lambda: client.request("GET", "/api/v1/sites/nosuchsite0000000000/widgets"))()


@pytest.mark.django_db
@pytest.mark.usefixtures("on_postgres", "connection_kept")
def test_the_group_gives_each_kinds_cpu_on_both_sides_and_the_ratio_cpu_allows():
    site = SiteFactory()
    client = WsgiClient()
    sequence = iter(range(10**6))

    def identify():
        body = {
            "visitor_id": f"visitor{next(sequence):013d}",
            "user_id": None,
            "attributes": {"plan": "pro"},
        }
        return client.request(
            "POST", f"/api/v1/sites/{site.key}/identify", body=json.dumps(body).encode()
        )

    kinds = {
        "health": checked(lambda: client.request("GET", "/healthz")),
        "identify": checked(identify),
    }

    result = measure(
        kinds,
        ratios={"identify/health": ("identify", "health")},
        rounds=2,
        seconds=0.2,
        profile_seconds=0.2,
        log=lambda line: None,
    )

    health, write = result["kinds"]["health"], result["kinds"]["identify"]
    assert health["requests"] > 2
    assert write["requests"] > 2
    # Each identify starts a profile in PostgreSQL: its backend works for it.
    assert write["db_cpu_ms"]["median"] > 0
    assert write["app_cpu_ms"]["median"] > 0
    assert sum(write["app_cpu_by_layer"].values()) == pytest.approx(1, abs=0.01)
    assert write["app_cpu_by_layer"]["psycopg"] > 0
    ratio = result["ratios"]["identify/health"]["median"]
    expected = (health["app_cpu_ms"]["median"] + health["db_cpu_ms"]["median"]) / (
        write["app_cpu_ms"]["median"] + write["db_cpu_ms"]["median"]
    )
    assert 0 < ratio < 1
    assert ratio == pytest.approx(expected, rel=0.5)


def test_the_table_shows_the_in_process_figures():
    figures = {
        "app_cpu_ms": {"median": 4.85, "min": 4.6, "max": 5.29},
        "db_cpu_ms": {"median": 3.87, "min": 3.5, "max": 4.0},
        "wall_ms": {"median": 8.75, "min": 8.0, "max": 9.0},
        "requests": 300,
        "app_cpu_by_layer": dict.fromkeys(LAYERS, 0.0)
        | {"psycopg": 0.28, "Django": 0.37, "project": 0.15, "DRF": 0.05, "Django ORM": 0.1},
    }
    results = {
        "groups": {
            "inprocess": {
                "kinds": {"B2": figures},
                "ratios": {"B2/B0": {"median": 0.062, "min": 0.051, "max": 0.062}},
            }
        }
    }

    lines = table(results, GOALS)

    assert any(
        "in-process, one at a time: B2 CPU app / db, wall, ms" in line
        and "4.85 / 3.87, 8.75" in line
        for line in lines
    )
    assert any("B2/B0 by in-process CPU (app + db)" in line and "0.062" in line for line in lines)
    assert any(
        "B2 app CPU by layer" in line and "Django 37, psycopg 28, project 15, Django ORM 10" in line
        for line in lines
    )


@pytest.mark.django_db
@pytest.mark.usefixtures("on_postgres")
def test_prewarm_reads_the_tables_and_indexes_into_shared_buffers():
    from django.db import connection

    settings = connection.settings_dict
    login = settings["USER"] + (f":{settings['PASSWORD']}" if settings["PASSWORD"] else "")
    url = f"postgres://{login}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"

    warm = prewarm(url)

    assert warm["prewarmed"] is True
    assert warm["relations"] > 10
    assert warm["pages"] > 0


def test_a_server_that_cannot_prewarm_is_named_with_its_reason():
    warm = prewarm("postgres://postgres@127.0.0.1:1/nowhere?connect_timeout=2")

    assert warm["prewarmed"] is False
    assert "connection" in warm["reason"]


def test_a_group_that_fails_is_reported_with_its_reason_and_log(tmp_path):
    # No settings module in the environment: Django cannot start in the group's process.
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(BASE_DIR)}

    result = run_group({"token": "secret"}, env=env, work=tmp_path, timeout=120)

    assert result["failed"].startswith("exit code 1: ")
    assert "settings" in result["failed"]
    assert result["log"] == str(tmp_path / "inprocess.log")
    # The arguments, the API token among them, are not left behind.
    assert not (tmp_path / "inprocess-arguments.json").exists()


def test_the_table_says_when_the_group_failed():
    results = {"groups": {"inprocess": {"failed": "exit code 1: boom", "log": "x.log"}}}

    lines = table(results, GOALS)

    assert any("in-process group" in line and "exit code 1: boom" in line for line in lines)
