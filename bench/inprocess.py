"""What one request costs, measured one request at a time in a process of its own:
`python -m bench.inprocess '<json arguments>'` (the bench's `inprocess` group starts it).

The load runs give each kind's CPU under contention: five workers, their PostgreSQL
backends, the load tool and Redis taking turns on the machine's cores. Here the same
requests go through Django's WSGI handler (the production settings and middleware, the
request log included, written to this process's stderr) with nothing else running, so
the figures show what a request itself costs:

- app CPU: this process's CPU time (`time.process_time`);
- database CPU: the CPU time of the connection's PostgreSQL backend (`/proc`);
- wall time: the request's time as the caller sees it, round trips included (a mean,
  like the CPU figures; the median is kept too).

The kinds run interleaved (B0 B1 B2 … B0 B1 B2 …) for a fixed time each, and the
median over the rounds is kept. Then each kind runs under cProfile, counting CPU time,
and its app CPU is split into layers by the file each function's own time is spent in;
a C function (a built-in, psycopg's C parts) counts for the layer that called it. The
requests are built before the clock starts; what is left of the harness in the timed
loop (the WSGI environ, as a server builds it, and the status check) is its own layer.
cProfile's own overhead weighs on code made of many small calls, so the shares are a
map of where the time goes, not exact figures.
"""

import cProfile
import io
import itertools
import json
import pstats
import random
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path

from bench import system
from bench.report import layers_text
from bench.run import spread

BASE_DIR = Path(__file__).resolve().parent.parent
STDLIB = sysconfig.get_paths()["stdlib"]
# The project's code (apps/, config/), this harness (bench/), DRF, Django's ORM and
# cursor (django/db/), the rest of Django (request handling, middleware, URLs, responses;
# asgiref, its request-local storage), psycopg, the Redis client, Python's standard
# library (json, logging, ...) and any other package.
LAYERS = (
    "project",
    "harness",
    "DRF",
    "Django ORM",
    "Django",
    "psycopg",
    "Redis",
    "stdlib",
    "other",
)
# name → (kind, reference): what CPU alone would allow of the kind against the reference.
RATIOS = {"B2/B0": ("B2", "B0"), "W100/B0": ("W100", "B0")}
# Requests built ahead per kind, replayed in turn (B2's calls, a few hundred per run,
# each keep their own message id).
PREPARED = 20000


def layer_of(filename: str) -> str:
    """The layer a function belongs to, from the file it is defined in."""
    name = filename.replace("\\", "/")
    if "/site-packages/" in name:
        package = name.split("/site-packages/", 1)[1]
        if package.startswith("rest_framework/"):
            return "DRF"
        if package.startswith("django/db/"):
            return "Django ORM"
        if package.startswith(("django/", "asgiref/")):
            return "Django"
        if package.startswith(("psycopg/", "psycopg_c/", "psycopg_binary/", "psycopg_pool/")):
            return "psycopg"
        if package.startswith("redis/"):
            return "Redis"
        return "other"
    if name.startswith(str(BASE_DIR / "bench") + "/"):
        return "harness"
    if name.startswith(str(BASE_DIR) + "/"):
        return "project"
    if name.startswith((STDLIB + "/", "<frozen ")):
        return "stdlib"
    return "other"


def layer_shares(stats: dict) -> dict[str, float]:
    """Each layer's share of the CPU recorded in `pstats.Stats(...).stats`. A function
    without a file (`~`: built-ins and C extensions) counts for its callers' layers, in
    proportion to the time each call site spent in it. Only a function's own time counts
    for its layer: what DRF calls in Django counts for Django."""
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
    """Calls for `seconds`; per request, the app's and the backend's CPU and the mean and
    median wall time."""
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
    walls.sort()
    return {
        "requests": n,
        "app_cpu_ms": (time.process_time() - app) * 1000 / n,
        "db_cpu_ms": (system.process_cpu(pid) - db) * 1000 / n,
        "wall_ms": (after - started) * 1000 / n,
        "wall_p50_ms": walls[n // 2] * 1000,
    }


def round_ratios(runs: dict[str, list[dict]], ratios: dict[str, tuple[str, str]]) -> dict:
    """Each ratio's reference CPU over its kind's (app and database), taken round by round
    (the kinds of one round ran seconds apart), then summarised over the rounds."""
    return {
        name: spread(
            [_cpu(ref) / _cpu(run) for run, ref in zip(runs[kind], runs[reference], strict=True)],
            3,
        )
        for name, (kind, reference) in ratios.items()
    }


def _cpu(run: dict) -> float:
    return run["app_cpu_ms"] + run["db_cpu_ms"]


def _summary(kind_runs: list[dict]) -> dict:
    figures = {
        figure: spread([r[figure] for r in kind_runs], 3)
        for figure in ("app_cpu_ms", "db_cpu_ms", "wall_ms", "wall_p50_ms")
    }
    figures["requests"] = sum(r["requests"] for r in kind_runs)
    return figures


def _profiled(call: Callable[[], None], seconds: float) -> dict[str, float]:
    profiler = cProfile.Profile(time.process_time)
    started = time.perf_counter()
    profiler.enable()
    while time.perf_counter() - started < seconds:
        call()
    profiler.disable()
    return layer_shares(pstats.Stats(profiler).stats)


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
    `rounds` rounds of `seconds` each, after 20 untimed calls of each), the ratios that
    CPU alone allows (`round_ratios`), then each kind's app CPU by layer under cProfile."""
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
        figures = _summary(kind_runs)
        figures["app_cpu_by_layer"] = _profiled(kinds[kind], profile_seconds)
        result["kinds"][kind] = figures
        log(
            f"  {kind:<17} app {figures['app_cpu_ms']['median']:5.2f} ms  "
            f"db {figures['db_cpu_ms']['median']:5.2f} ms  "
            f"wall {figures['wall_ms']['median']:5.2f} ms  app CPU, %: "
            + layers_text(figures["app_cpu_by_layer"])
        )
    result["ratios"] = round_ratios(runs, ratios)
    for name, ratio in result["ratios"].items():
        log(f"  {name} by CPU: {ratio['median']:.3f} ({ratio['min']:.3f}-{ratio['max']:.3f})")
    return result


def request_kinds(
    *, client: WsgiClient, site_key: str, token: str, profiles: int, tag: str, widget_lines: Path
) -> dict[str, Callable[[], None]]:
    """The requests of the load runs (B0, B1, B2 with the identify mix, W100 replaying
    `widget_lines`, the decisions' mix) and Visitor Lookup by user id and by email, each
    kind's requests built before any is timed."""
    from bench import queries, traffic

    rng = random.Random(13)
    sequence = itertools.count()

    def identify(path: str) -> list[tuple]:
        return [
            (
                "POST",
                path,
                "",
                json.dumps(traffic.identify_body(rng, profiles, tag, next(sequence))).encode(),
                None,
            )
            for _ in range(PREPARED)
        ]

    def lookup(kind: str) -> list[tuple]:
        path = f"/api/v1/sites/{site_key}/lookup"
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        return [
            ("GET", path, queries.lookup_query(rng, profiles, kind), b"", headers)
            for _ in range(PREPARED)
        ]

    decisions = [
        ("GET", *url_path.split("?", 1), b"", None)
        for _method, url_path, _body in traffic.read_lines(widget_lines)
    ]
    prepared = {
        "B0": [("GET", "/bench/b0", "", b"", None)],
        "B1": identify(f"/bench/b1/{site_key}/identify"),
        "B2": identify(f"/api/v1/sites/{site_key}/identify"),
        "W100": decisions,
        "lookup by user_id": lookup("user_id"),
        "lookup by email": lookup("email"),
    }
    return {kind: checked(_replay(client, requests)) for kind, requests in prepared.items()}


def _replay(client: WsgiClient, requests: list[tuple]) -> Callable[[], tuple[int, bytes]]:
    """The next of the prepared requests at each call, from the first again at the end."""
    turn = itertools.cycle(requests)

    def call() -> tuple[int, bytes]:
        method, path, query, body, headers = next(turn)
        return client.request(method, path, query=query, body=body, headers=headers)

    return call


def run_group(arguments: dict, *, env: dict, work: Path, timeout: float = 600) -> dict:
    """Run the group in a process of its own (`main`) and return its result, or what
    stopped it: {"failed": reason, "log": path}. The arguments travel in a file (they
    hold the API token); the process's stderr, the request log included, goes to
    `work`/inprocess.log."""
    request_log = work / "inprocess.log"
    out = work / "inprocess.json"
    given = work / "inprocess-arguments.json"
    out.unlink(missing_ok=True)
    given.write_text(json.dumps({**arguments, "out": str(out)}))
    try:
        with request_log.open("w") as stderr:
            finished = subprocess.run(
                [sys.executable, "-m", "bench.inprocess", str(given)],
                env=env,
                stderr=stderr,
                timeout=timeout,
                check=False,
            )
    except subprocess.TimeoutExpired:
        return {"failed": f"no result after {timeout:g} s", "log": str(request_log)}
    finally:
        given.unlink(missing_ok=True)
    if finished.returncode != 0 or not out.exists():
        last = request_log.read_text().strip().splitlines()[-1:] or [""]
        return {
            "failed": f"exit code {finished.returncode}: {last[0][:300]}",
            "log": str(request_log),
        }
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> None:
    """Run the group with the arguments in the JSON file named first on the command line
    and write the result as JSON to its `out` path. The environment is the served app's
    (settings module, database, cache); the connection is kept for the whole group, so
    that all of its backend's CPU is counted."""
    import django

    arguments = json.loads(Path((argv or sys.argv[1:])[0]).read_text())
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
        ratios=RATIOS,
        rounds=arguments["rounds"],
        seconds=arguments["seconds"],
        profile_seconds=arguments["profile_seconds"],
        log=lambda line: print(line, flush=True),
    )
    Path(arguments["out"]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
