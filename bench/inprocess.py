"""What one request costs, measured one request at a time in a process of its own:
`python -m bench.inprocess '<json arguments>'` (the bench's `inprocess` group starts it).

The load runs give each kind's CPU under contention: five workers, their PostgreSQL
backends, the load tool and Redis taking turns on the machine's cores. Here the same
requests go through Django's WSGI handler (the production settings and middleware, the
request log included, written to this process's stderr) with nothing else running, so
the figures show what a request itself costs:

- app CPU: this process's CPU time (`time.process_time`);
- database CPU: the CPU time of the connection's PostgreSQL backend (`/proc`);
- wall time: the request's time as the caller sees it, round trips included.

The kinds run interleaved (B0 B1 B2 … B0 B1 B2 …) for a fixed time each, and the
median over the rounds is kept. Then each kind runs under cProfile, counting CPU time,
and its app CPU is split into layers by the file each function's own time is spent in;
a C function (a built-in, psycopg's C parts) counts for the layer that called it.
cProfile's own overhead weighs on code made of many small calls, so the shares are a
map of where the time goes, not exact figures.
"""

import cProfile
import io
import json
import pstats
import random
import statistics
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path

from bench import system
from bench.report import layers_text

BASE_DIR = Path(__file__).resolve().parent.parent
STDLIB = sysconfig.get_paths()["stdlib"]
# The project's code (apps/, config/, bench/), DRF, Django's ORM and cursor (django/db/),
# the rest of Django (request handling, middleware, URLs, responses), psycopg, the Redis
# client, Python's standard library (json, logging, ...) and any other package.
LAYERS = ("project", "DRF", "Django ORM", "Django", "psycopg", "Redis", "stdlib", "other")


def layer_of(filename: str) -> str:
    """The layer a function belongs to, from the file it is defined in."""
    name = filename.replace("\\", "/")
    if "/site-packages/" in name:
        package = name.split("/site-packages/", 1)[1]
        if package.startswith("rest_framework/"):
            return "DRF"
        if package.startswith("django/db/"):
            return "Django ORM"
        if package.startswith(("django/", "asgiref/")):  # asgiref: Django's request locals
            return "Django"
        if package.startswith(("psycopg/", "psycopg_c/", "psycopg_binary/", "psycopg_pool/")):
            return "psycopg"
        if package.startswith("redis/"):
            return "Redis"
        return "other"
    if name.startswith(str(BASE_DIR) + "/"):
        return "project"
    if name.startswith((STDLIB + "/", "<frozen ")):
        return "stdlib"
    return "other"


def layer_shares(stats: dict) -> dict[str, float]:
    """Each layer's share of the CPU recorded in `pstats.Stats(...).stats`. A function
    without a file (`~`: built-ins and C extensions) counts for its callers' layers, in
    proportion to the time each call site spent in it."""
    seconds = dict.fromkeys(LAYERS, 0.0)
    for (filename, _line, _name), (_cc, _nc, own, _cumulative, callers) in stats.items():
        if filename != "~":
            seconds[layer_of(filename)] += own
            continue
        attributed = 0.0
        for (caller_file, _l, _n), edge in callers.items():
            if caller_file != "~":
                seconds[layer_of(caller_file)] += edge[2]
                attributed += edge[2]
        seconds["other"] += max(own - attributed, 0.0)
    total = sum(seconds.values())
    return {layer: round(value / total, 3) if total else 0.0 for layer, value in seconds.items()}


class WsgiClient:
    """Requests through Django's WSGI handler, as gunicorn calls it."""

    def __init__(self):
        from django.core.handlers.wsgi import WSGIHandler

        self.handler = WSGIHandler()

    def request(
        self, method: str, path: str, *, query: str = "", body: bytes = b"", headers=None
    ) -> tuple[int, bytes]:
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8077",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1",
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            **(headers or {}),
        }
        if body:
            environ["CONTENT_TYPE"] = "application/json"
            environ["CONTENT_LENGTH"] = str(len(body))
        status: list[str] = []
        answer = self.handler(environ, lambda line, _headers, exc_info=None: status.append(line))
        try:
            content = b"".join(answer)
        finally:
            getattr(answer, "close", lambda: None)()
        return int(status[0].split(" ", 1)[0]), content


def checked(call: Callable[[], tuple[int, bytes]]) -> Callable[[], None]:
    """A call that stops the group at the first answer other than 200: a cost measured on
    errors would be the cost of something else."""

    def run() -> None:
        status, content = call()
        if status != 200:
            raise RuntimeError(f"in-process request answered {status}: {content[:300]!r}")

    return run


def backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _round(call: Callable[[], None], seconds: float, pid: int) -> dict:
    app, db, started = time.process_time(), system.process_cpu(pid), time.perf_counter()
    walls = []
    while True:
        before = time.perf_counter()
        call()
        after = time.perf_counter()
        walls.append(after - before)
        if after - started >= seconds:
            break
    n = len(walls)
    return {
        "requests": n,
        "app_cpu_ms": (time.process_time() - app) * 1000 / n,
        "db_cpu_ms": (system.process_cpu(pid) - db) * 1000 / n,
        "wall_ms": statistics.median(walls) * 1000,
    }


def _spread(values: list[float]) -> dict:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def measure(
    kinds: dict[str, Callable[[], None]],
    *,
    ratios: dict[str, tuple[str, str]],
    rounds: int,
    seconds: float,
    profile_seconds: float,
    log,
) -> dict:
    """Each kind's app and database CPU and wall time per request (kinds interleaved,
    `rounds` rounds of `seconds` each), the throughput ratios that CPU alone allows
    (`ratios`: name → (kind, reference), taken per round), then each kind's app CPU by
    layer under cProfile."""
    for call in kinds.values():  # connections, prepared statements, caches
        for _ in range(20):
            call()
    pid = backend_pid()
    runs: dict[str, list[dict]] = {kind: [] for kind in kinds}
    for _ in range(rounds):
        for kind, call in kinds.items():
            runs[kind].append(_round(call, seconds, pid))
    if backend_pid() != pid:
        raise RuntimeError("the database connection changed during the in-process runs")
    result: dict = {"rounds": rounds, "seconds_per_round": seconds, "kinds": {}}
    for kind, kind_runs in runs.items():
        figures = {
            figure: _spread([r[figure] for r in kind_runs])
            for figure in ("app_cpu_ms", "db_cpu_ms", "wall_ms")
        }
        figures["requests"] = sum(r["requests"] for r in kind_runs)
        figures["app_cpu_by_layer"] = _profiled(kinds[kind], profile_seconds)
        result["kinds"][kind] = figures
        log(
            f"  {kind:<17} app {figures['app_cpu_ms']['median']:5.2f} ms  "
            f"db {figures['db_cpu_ms']['median']:5.2f} ms  "
            f"wall {figures['wall_ms']['median']:5.2f} ms  app CPU, %: "
            + layers_text(figures["app_cpu_by_layer"])
        )
    result["ratios"] = {
        name: _spread(
            [_cpu(ref) / _cpu(run) for run, ref in zip(runs[kind], runs[reference], strict=True)]
        )
        for name, (kind, reference) in ratios.items()
    }
    for name, ratio in result["ratios"].items():
        log(f"  {name} by CPU: {ratio['median']:.3f} ({ratio['min']:.3f}-{ratio['max']:.3f})")
    return result


def _cpu(run: dict) -> float:
    return run["app_cpu_ms"] + run["db_cpu_ms"]


def _profiled(call: Callable[[], None], seconds: float) -> dict[str, float]:
    profiler = cProfile.Profile(time.process_time)
    started = time.perf_counter()
    profiler.enable()
    while time.perf_counter() - started < seconds:
        call()
    profiler.disable()
    return layer_shares(pstats.Stats(profiler).stats)


def request_kinds(
    *, client: WsgiClient, site_key: str, token: str, profiles: int, tag: str, widget_lines: Path
) -> dict[str, Callable[[], None]]:
    """The requests of the load runs (B0, B1, B2 with the identify mix, W100 replaying
    `widget_lines`, the decisions' mix) and Visitor Lookup by user id and by email."""
    from bench import queries, traffic

    rng = random.Random(13)
    sequence = iter(range(10**9))
    decisions = traffic.read_lines(widget_lines)
    position = iter(range(10**9))

    def identify(path: str) -> Callable[[], tuple[int, bytes]]:
        def call():
            body = traffic.identify_body(rng, profiles, tag, next(sequence))
            return client.request("POST", path, body=json.dumps(body).encode())

        return call

    def decision():
        _method, url_path, _body = decisions[next(position) % len(decisions)]
        path, query = url_path.split("?", 1)
        return client.request("GET", path, query=query)

    def lookup(kind: str) -> Callable[[], tuple[int, bytes]]:
        return lambda: client.request(
            "GET",
            f"/api/v1/sites/{site_key}/lookup",
            query=queries.lookup_query(rng, profiles, kind),
            headers={"HTTP_AUTHORIZATION": f"Bearer {token}"},
        )

    calls = {
        "B0": lambda: client.request("GET", "/bench/b0"),
        "B1": identify(f"/bench/b1/{site_key}/identify"),
        "B2": identify(f"/api/v1/sites/{site_key}/identify"),
        "W100": decision,
        "lookup by user_id": lookup("user_id"),
        "lookup by email": lookup("email"),
    }
    return {kind: checked(call) for kind, call in calls.items()}


def main(argv: list[str] | None = None) -> None:
    """Run the group with the arguments the runner passes as one JSON object and write
    the result as JSON to its `out` path. The environment is the served app's (settings
    module, database, cache); the connection is kept for the whole group, so that all of
    its backend's CPU is counted."""
    import django

    arguments = json.loads((argv or sys.argv[1:])[0])
    django.setup()
    from django.db import connection

    connection.settings_dict["CONN_MAX_AGE"] = None
    kinds = request_kinds(
        client=WsgiClient(),
        site_key=arguments["site_key"],
        token=arguments["token"],
        profiles=arguments["profiles"],
        tag=arguments["tag"],
        widget_lines=Path(arguments["widget_lines"]),
    )
    result = measure(
        kinds,
        ratios={name: tuple(pair) for name, pair in arguments["ratios"].items()},
        rounds=arguments["rounds"],
        seconds=arguments["seconds"],
        profile_seconds=arguments["profile_seconds"],
        log=lambda line: print(line, flush=True),
    )
    Path(arguments["out"]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
