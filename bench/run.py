"""`make bench`: build the bench database, serve the app like production, measure, report.

    .venv/bin/python -m bench.run [--profiles 1000000] [--duration 10] [--reps 3]

Every figure is measured next to its references in the same run, the runs interleaved
(A B C A B C ...), and reported as the median with min-max over the repetitions; ratios
are taken per repetition (B2 of rep 1 over B0 of rep 1, ...) and then summarised. See
bench/README.md for what each figure means.
"""

import argparse
import json
import os
import platform
import signal
import statistics
import sys
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from bench import checks, datagen, postgres, system, traffic  # noqa: E402

RESULTS = BASE_DIR / "bench" / "results"
WORK = BASE_DIR / "bench" / "data"
GOALS = {
    "B2/B0": 0.5,
    "B2/B3": 0.5,
    "p99_at_50_ms": 25.0,
    "W100/B0": 0.7,
    "targeting_ratio": 1.2,
    "targeting_warm_ms": 300.0,
    "lookup_ms": 10.0,
}
GROUPS = ("ingest", "latency", "widgets", "granian", "lookup", "targeting", "inprocess")
# B3 replays identify calls of first-time devices and users, which a run uses up: the
# groups that measure it need a database loaded afresh.
FRESH_GROUPS = ("ingest", "latency")


def log(message: str) -> None:
    print(message, flush=True)


def spread(values: list[float], digits: int = 1) -> dict:
    if not values:
        return {"median": None, "min": None, "max": None}
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load run")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each interleaved group")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument(
        "--workers",
        type=int,
        default=2 * system.CORES + 1,
        help="gunicorn workers (and pgbench clients): config/gunicorn.conf.py's default",
    )
    parser.add_argument("--port", type=int, default=8077)
    parser.add_argument("--database", default="cohort_bench")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("BENCH_ADMIN_URL"),
        help="a PostgreSQL URL allowed to create the bench database, to run against that "
        "server instead of the bench's own (bench/postgres.py)",
    )
    parser.add_argument(
        "--pg-port", type=int, default=5439, help="the port of the bench's own PostgreSQL"
    )
    parser.add_argument(
        "--cache-url",
        default=os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/13"),
        help="the shared cache of the served app, as in production (Redis); falls back to "
        "per-process memory when Redis does not answer",
    )
    parser.add_argument("--reuse", action="store_true", help="keep a loaded bench database")
    parser.add_argument("--no-granian", action="store_true")
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated groups: {','.join(GROUPS)}",
    )
    args = parser.parse_args(argv)
    only = {group.strip() for group in args.only.split(",") if group.strip()}
    unknown = sorted(only - set(GROUPS))
    if unknown:
        parser.error(
            f"unknown group in --only: {', '.join(unknown)} (the groups: {', '.join(GROUPS)})"
        )
    args.groups = only or set(GROUPS)
    return args


def reuse_refusal(groups: set[str]) -> str | None:
    """Why a run of these groups cannot use a loaded bench database, or None."""
    fresh = [group for group in FRESH_GROUPS if group in groups]
    if not fresh:
        return None
    return (
        f"--reuse found a loaded bench database, but the {' and '.join(fresh)} "
        f"group{'s' if len(fresh) > 1 else ''} need{'' if len(fresh) > 1 else 's'} a fresh "
        "one (B3 replays first-time devices and users, which an earlier run used up): "
        "run without --reuse, or choose other groups with --only "
        + ",".join(g for g in GROUPS if g not in FRESH_GROUPS)
    )


def count_error_answers(result: dict) -> None:
    result["server_errors"] = checks.server_errors(result["statuses"])
    result["client_errors"] = checks.client_errors(result["statuses"])


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.cluster = (
            None
            if args.admin_url
            else postgres.Cluster(data_dir=WORK / "postgres", port=args.pg_port)
        )
        self.admin_url = args.admin_url or self.cluster.admin_url
        admin = self.admin_url.rsplit("/", 1)[0]
        self.db_url = f"{admin}/{args.database}"
        self.results: dict = {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "cores": system.CORES,
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "settings": {k: v for k, v in vars(args).items() if k != "admin_url"},
            "groups": {},
            "counters": [],
        }
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DATABASE_URL": self.db_url,
            "SECRET_KEY": "bench-only-secret-key-not-used-anywhere-else-0123456789",
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "False",
            "COHORT_THROTTLE_PER_SITE": "1000000000/min",
            "COHORT_THROTTLE_PER_CLIENT": "1000000000/min",
            "COHORT_THROTTLE_PER_TOKEN": "1000000000/min",
            "COHORT_PUBLIC_BASE_URL": f"http://127.0.0.1:{args.port}",
            "PYTHONPATH": str(BASE_DIR),
            "WEB_CONCURRENCY": str(args.workers),
            "CACHE_URL": system.reachable_cache(args.cache_url),
        }
        self.server: system.Server | None = None
        self.compare_servers = False
        self.widget_config: int | None = None
        self.run_number = 0
        self.run_id = format(int(time.time()) % 36**5, "x")
        WORK.mkdir(parents=True, exist_ok=True)
        RESULTS.mkdir(parents=True, exist_ok=True)

    # --- database and data ------------------------------------------------------------------

    def prepare_database(self) -> None:
        import psycopg

        if self.cluster is not None:
            log(f"starting the bench's PostgreSQL on 127.0.0.1:{self.args.pg_port} ...")
            self.cluster.start()
        self.results["postgres"] = {
            "own_cluster": self.cluster is not None,
            "settings": postgres.server_settings(self.admin_url),
        }
        log(
            "PostgreSQL: "
            + ", ".join(f"{k} {v}" for k, v in self.results["postgres"]["settings"].items())
        )
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [self.args.database]
            ).fetchone()
            if exists and not self.args.reuse:
                conn.execute(f'DROP DATABASE "{self.args.database}" WITH (FORCE)')
                exists = None
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.args.database}"')
        os.environ.update({k: v for k, v in self.env.items() if k != "PYTHONPATH"})
        import logging

        import django

        django.setup()
        # The in-process calls (SQL capture) would print the production request log.
        logging.getLogger("cohort.request").setLevel(logging.WARNING)
        from django.core.management import call_command

        started = time.monotonic()
        call_command("migrate", verbosity=0, interactive=False)
        self.results["migrate_seconds"] = round(time.monotonic() - started, 1)

    def seed_and_load(self) -> None:
        import psycopg
        from django.db import connection

        from apps.common.demo import demo_seed
        from apps.sites.models import Site
        from bench import queries

        self.facts = demo_seed(base_url=f"http://127.0.0.1:{self.args.port}")
        self.site = Site.objects.select_related("account").get(key=self.facts["site_key"])
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS bench_meta (profiles int, site_id bigint, load jsonb)"
            )
            meta = conn.execute("SELECT profiles, site_id, load FROM bench_meta").fetchone()
        if meta and meta[0] == self.args.profiles and meta[1] == self.site.pk:
            refusal = reuse_refusal(self.args.groups)
            if refusal:
                raise SystemExit(refusal)
            log(f"reusing the loaded bench database ({meta[0]:,} profiles)")
            self.results["load"] = {**meta[2], "reused": True}
            return
        log(f"loading {self.args.profiles:,} profiles into site {self.site.key} ...")
        started = time.monotonic()
        stats = datagen.load(self.db_url, site_id=self.site.pk, profiles=self.args.profiles)
        total = round(time.monotonic() - started, 1)
        # The bench's own server is restarted for a cold cache; another needs a ballast.
        rows = queries.ballast_create(self.db_url) if self.cluster is None else 0
        load = {
            "profiles": stats.profiles,
            "visitors": stats.visitors,
            "sessions": stats.sessions,
            "attribute_values": stats.attribute_values,
            "catalogue": stats.keys,
            "seconds": {**stats.seconds, "total": total},
            "ballast_rows": rows,
        }
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            conn.execute("DELETE FROM bench_meta")
            conn.execute(
                "INSERT INTO bench_meta VALUES (%s, %s, %s)",
                [self.args.profiles, self.site.pk, json.dumps(load)],
            )
        self.results["load"] = load
        log(
            f"loaded {stats.profiles:,} profiles, {stats.visitors:,} visitors, "
            f"{stats.sessions:,} sessions, {stats.attribute_values:,} attribute values "
            f"in {total} s (copy {stats.seconds['copy']} s, indexes "
            f"{stats.seconds['indexes']} s, vacuum analyze {stats.seconds['vacuum_analyze']} s)"
        )
        connection.close()

    def prepare_widgets(self) -> None:
        """100 widgets on the site: the seed's poll and 99 more with varied targeting."""
        from apps.accounts.models import User
        from apps.common.demo import DEMO_EMAIL
        from apps.feedback_targeting.models import Widget
        from apps.feedback_targeting.services import QuestionSpec, widget_save

        templates = [
            {"match": "all", "conditions": [{"type": "visitor", "op": "identified"}]},
            {
                "match": "all",
                "conditions": [
                    {"type": "string", "key": "plan", "op": "in", "value": ["pro", "team"]}
                ],
            },
            {
                "match": "any",
                "conditions": [
                    {"type": "number", "key": "total_spend", "op": "gte", "value": 250},
                    {"type": "boolean", "key": "is_trial", "op": "is_true"},
                ],
            },
            {
                "match": "all",
                "conditions": [
                    {"type": "string", "key": "country", "op": "equals", "value": "DE"},
                    {"type": "boolean", "key": "newsletter", "op": "is_true"},
                ],
            },
            {"match": "all", "conditions": [{"type": "visitor", "op": "anonymous"}]},
            {
                "match": "all",
                "conditions": [
                    {"type": "date", "key": "signup_date", "op": "less_than_days_ago", "value": 30}
                ],
            },
            {
                "match": "all",
                "conditions": [
                    {"type": "string", "key": "app_version", "op": "starts_with", "value": "4."}
                ],
            },
            {"match": "all", "conditions": []},
            {
                "match": "all",
                "conditions": [
                    {"type": "number", "key": "orders", "op": "between", "value": [2, 5]}
                ],
            },
        ]
        user = User.objects.get(email=DEMO_EMAIL)
        existing = Widget.objects.filter(site=self.site, name__startswith="Bench widget").count()
        for number in range(existing + 1, 100):
            kind = Widget.Kind.POLL if number % 3 else Widget.Kind.FEEDBACK
            questions = (
                [
                    QuestionSpec(kind="rating", text="How likely are you to recommend us?"),
                    QuestionSpec(kind="single", text="Why?", choices=("Price", "Books", "Speed")),
                ]
                if kind == Widget.Kind.POLL
                else []
            )
            widget_save(
                site=self.site,
                kind=kind,
                name=f"Bench widget {number:02d}",
                targeting=templates[number % len(templates)],
                questions=questions,
                url_contains="/checkout" if number % 5 == 0 else "",
                user=user,
            )
        ids = list(
            Widget.objects.filter(site=self.site)
            .order_by("created_at", "pk")
            .values_list("pk", flat=True)
        )
        self.widget_ids = ids[:100]
        self.results["widgets"] = {"total": len(self.widget_ids), "templates": len(templates)}

    def set_widgets(self, active: int) -> None:
        from apps.feedback_targeting.models import Widget

        Widget.objects.filter(pk__in=self.widget_ids[:active]).update(status=Widget.Status.ACTIVE)
        Widget.objects.filter(pk__in=self.widget_ids[active:]).update(status=Widget.Status.PAUSED)
        self.widget_config = active

    # --- server -------------------------------------------------------------------------------

    def start_server(self, kind: str = "gunicorn") -> None:
        from django.db import connection

        connection.close()
        self.stop_server()
        self.server = system.Server(
            kind=kind,
            port=self.args.port,
            workers=self.args.workers,
            env=self.env,
            log=WORK / f"{kind}.log",
        )
        self.server.start()

    def ensure_server(self, kind: str) -> None:
        if self.server is None or self.server.kind != kind:
            self.start_server(kind)

    def stop_server(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def backend_pids(self) -> list[int]:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [self.args.database],
            ).fetchall()
        return [row[0] for row in rows]

    # --- one load run -------------------------------------------------------------------------

    def identify_lines(self, *, url_path: str, tag: str, count: int) -> Path:
        path = WORK / f"lines-{tag}.txt"
        traffic.write_identify(
            path,
            url_path=url_path,
            n=self.args.profiles,
            tag=tag,
            count=count,
            seed=zlib.crc32(tag.encode()),
        )
        return path

    def measured(self, action) -> dict:
        """Run `action` (a load run) with CPU, deadlock and 5xx / 4xx accounting around it, and
        the vacuums, checkpoints and WAL syncs PostgreSQL ran beside it."""
        deadlocks0 = checks.deadlocks(self.db_url)
        background = checks.background_work(self.db_url)
        meter = system.CpuMeter(self.server.pids() if self.server else [], self.backend_pids())
        result = action()
        result["cpu"] = meter.stop(self.backend_pids())
        result["background"] = checks.background_between(
            background, checks.background_work(self.db_url)
        )
        result["deadlocks"] = checks.deadlocks(self.db_url) - deadlocks0
        if "statuses" in result:
            count_error_answers(result)
        requests = result.get("requests") or result.get("transactions") or 0
        cpu = result["cpu"]
        used = cpu["server_cpu_seconds"] + cpu["postgres_cpu_seconds"]
        if requests and used:
            result["requests_per_cpu_second"] = round(requests / used, 1)
        return result

    def wrk_run(
        self, *, lines: Path, tag: str, track: bool = False, duration: float | None = None
    ) -> dict:
        out = WORK / f"wrk-{tag}.json"
        return system.wrk(
            url=self.server.url,
            lines=lines,
            out=out,
            duration=duration or self.args.duration,
            connections=self.args.connections,
            track=track,
        )

    def identify_checks(self, result: dict, tag: str) -> dict:
        counters = checks.identify_counters(
            self.db_url, site_id=self.site.pk, tag=tag, acks_file=result["acks_file"]
        )
        result.update(counters)
        self.record_counters(
            tag,
            result,
            lost_keys=counters["lost_keys"],
            duplicate_profiles=counters["duplicate_profiles"],
            acknowledged=counters["acknowledged"],
        )
        return result

    def record_counters(self, run: str, result: dict, **extra) -> None:
        """A load run's correctness counters, for the report's totals."""
        self.results["counters"].append(
            {
                "run": run,
                "server_errors": result.get("server_errors", 0),
                "client_errors": result.get("client_errors", 0),
                "deadlocks": result["deadlocks"],
                **extra,
            }
        )

    def next_tag(self, prefix: str) -> str:
        """A tag no earlier run used, even on a reused database (it names the run's users,
        message ids and slot values)."""
        self.run_number += 1
        return f"{prefix}{self.run_number}x{self.run_id}"

    def run_kind(self, kind: str) -> dict:
        """One measured run. "granian B2" is B2 served by granian; in the server
        comparison a plain kind is served by gunicorn."""
        if " " in kind:
            server, kind = kind.split(" ", 1)
            self.ensure_server(server)
        elif self.compare_servers:
            self.ensure_server("gunicorn")
        site_key = self.site.key
        lines_per_run = int(4000 * self.args.duration)
        if kind == "B0":
            lines = WORK / "lines-b0.txt"
            traffic.write_get(lines, url_path="/bench/b0")
            result = self.measured(lambda: self.wrk_run(lines=lines, tag="b0"))
            self.record_counters(self.next_tag("b0-"), result)
            return result
        if kind == "B1":
            tag = self.next_tag("v")
            lines = self.identify_lines(
                url_path=f"/bench/b1/{site_key}/identify", tag=tag, count=lines_per_run
            )
            result = self.measured(lambda: self.wrk_run(lines=lines, tag=tag))
            lines.unlink()
            self.record_counters(tag, result)
            return result
        if kind == "B2":
            tag = self.next_tag("r")
            lines = self.identify_lines(
                url_path=f"/api/v1/sites/{site_key}/identify", tag=tag, count=lines_per_run
            )
            result = self.measured(lambda: self.wrk_run(lines=lines, tag=tag, track=True))
            lines.unlink()
            return self.identify_checks(result, tag)
        if kind == "B3":
            scripts = [(Path(s["script"]), s["weight"]) for s in self.scripts.values()]
            result = self.measured(
                lambda: system.pgbench(
                    dsn_args=self.pgbench_args(),
                    scripts=scripts,
                    clients=self.args.workers,
                    duration=self.args.duration,
                ),
            )
            self.record_counters(
                self.next_tag("pgbench-"), result, failed_transactions=result["failed"]
            )
            return result
        if kind in ("W10", "W100"):
            active = 10 if kind == "W10" else 100
            lines = self.widget_lines()
            if self.widget_config != active:
                self.set_widgets(active)
                self.start_server(self.server.kind)
                # A new server's workers connect, load the site's widgets and prepare their
                # statements on their first requests: B0 runs on a warm server, so the
                # decisions get one too. The warm-up's counters are kept like any run's.
                warm = self.measured(
                    lambda: self.wrk_run(lines=lines, tag=f"{kind.lower()}-warm", duration=2)
                )
                self.record_counters(self.next_tag(f"{kind.lower()}-warm-"), warm)
            result = self.measured(lambda: self.wrk_run(lines=lines, tag=kind.lower()))
            self.record_counters(self.next_tag(f"{kind.lower()}-"), result)
            return result
        raise ValueError(kind)

    def widget_lines(self) -> Path:
        """The widget decisions every W10 / W100 run and the in-process group replay.
        Written for every run: the site key changes with each new bench database."""
        lines = WORK / "lines-widgets.txt"
        traffic.write_widgets(
            lines, site_key=self.site.key, n=self.args.profiles, count=20000, seed=11
        )
        return lines

    def pgbench_args(self) -> list[str]:
        from urllib.parse import urlparse

        url = urlparse(self.db_url)
        return [
            "-h",
            url.hostname or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "postgres",
            url.path.lstrip("/"),
        ]

    def interleaved(self, name: str, kinds: list[str], warmup: bool = True) -> dict:
        log(f"\n== {name}: {' '.join(kinds)} x {self.args.reps}, {self.args.duration:g} s each ==")
        if warmup:
            duration = self.args.duration
            self.args.duration = 2
            for kind in kinds:
                self.run_kind(kind)
            self.args.duration = duration
        runs: dict[str, list[dict]] = {kind: [] for kind in kinds}
        for rep in range(self.args.reps):
            for kind in kinds:
                result = self.run_kind(kind)
                runs[kind].append(result)
                extra = ""
                if "lost_keys" in result:
                    extra = (
                        f" lost {result['lost_keys']} dup {result['duplicate_profiles']}"
                        f" acked {result['acknowledged']}"
                    )
                log(
                    f"  rep {rep + 1} {kind:<5} {result['rps']:>9,.1f}/s"
                    f"  tool cpu {result['tool_cpu_share']:.0%}"
                    f"  machine busy {result['cpu']['machine_busy_share']:.0%}"
                    f" (stolen {result['cpu']['machine_stolen_share']:.0%})"
                    f"  5xx {result.get('server_errors', 0)} 4xx {result.get('client_errors', 0)}"
                    f" deadlocks {result['deadlocks']}{extra}"
                )
        summary = {
            kind: {
                "rps": spread([r["rps"] for r in results]),
                "tool_cpu_share": spread([r["tool_cpu_share"] for r in results], 3),
                "requests_per_cpu_second": spread(
                    [
                        r["requests_per_cpu_second"]
                        for r in results
                        if "requests_per_cpu_second" in r
                    ]
                ),
                "runs": results,
            }
            for kind, results in runs.items()
        }
        self.results["groups"][name] = summary
        return summary

    def ratio(self, group: dict, top: str, bottom: str) -> dict:
        values = [
            a["rps"] / b["rps"]
            for a, b in zip(group[top]["runs"], group[bottom]["runs"], strict=True)
            if b["rps"]
        ]
        return spread(values, 3)

    # --- groups -----------------------------------------------------------------------------

    def group_ingest(self, server_kind: str = "gunicorn", name: str = "ingest") -> dict:
        group = self.interleaved(name, ["B0", "B1", "B2", "B3"])
        ratios = {
            "B2/B0": self.ratio(group, "B2", "B0"),
            "B2/B1": self.ratio(group, "B2", "B1"),
            "B2/B3": self.ratio(group, "B2", "B3"),
        }
        self.results["groups"][name]["ratios"] = ratios
        return group

    def group_latency(self) -> None:
        ingest = self.results["groups"]["ingest"]
        max_rate = ingest["B2"]["rps"]["median"]
        log(f"\n== B2 latency, open loop at 50 % and 80 % of {max_rate:,.0f}/s ==")
        runs: dict[str, list[dict]] = {"50%": [], "80%": []}
        for rep in range(self.args.reps):
            for share, label in ((0.5, "50%"), (0.8, "80%")):
                tag = self.next_tag("o")
                rate = max(1.0, max_rate * share)
                lines = self.identify_lines(
                    url_path=f"/api/v1/sites/{self.site.key}/identify",
                    tag=tag,
                    count=int(rate * self.args.duration) + 10,
                )
                result = self.measured(
                    lambda lines=lines, tag=tag, rate=rate: system.openloop(
                        port=self.args.port,
                        lines=lines,
                        out=WORK / f"open-{tag}.json",
                        rate=rate,
                        duration=self.args.duration,
                        track=True,
                    ),
                )
                count_error_answers(result)
                lines.unlink()
                self.identify_checks(result, tag)
                runs[label].append(result)
                lat = result["latency_ms"]
                log(
                    f"  rep {rep + 1} {label} {result['rate_achieved']:>7,.1f}/s"
                    f"  p50 {lat['p50']:6.1f} p95 {lat['p95']:6.1f} p99 {lat['p99']:6.1f} ms"
                    f"  tool cpu {result['tool_cpu_share']:.0%}  lost {result['lost_keys']}"
                    f" 5xx {result['server_errors']} 4xx {result.get('client_errors', 0)}"
                    f"  stolen {result['cpu']['machine_stolen_share']:.0%}"
                    f"  WAL sync {result['background']['wal_sync_mean_ms'] or '-'} ms"
                    f"  vacuumed: {', '.join(result['background']['vacuumed']) or '-'}"
                )
        self.results["groups"]["latency"] = {
            label: {
                "rate": spread([r["rate_achieved"] for r in results]),
                "p50_ms": spread([r["latency_ms"]["p50"] for r in results], 2),
                "p95_ms": spread([r["latency_ms"]["p95"] for r in results], 2),
                "p99_ms": spread([r["latency_ms"]["p99"] for r in results], 2),
                "tool_cpu_share": spread([r["tool_cpu_share"] for r in results], 3),
                "runs": results,
            }
            for label, results in runs.items()
        }

    def group_widgets(self) -> None:
        group = self.interleaved("widgets", ["B0", "W10", "W100"])
        group["ratios"] = {
            "W10/B0": self.ratio(group, "W10", "B0"),
            "W100/B0": self.ratio(group, "W100", "B0"),
        }
        self.set_widgets(10)
        self.start_server("gunicorn")

    def group_granian(self) -> None:
        try:
            import granian  # noqa: F401
        except ImportError:
            log("\n(granian is not installed: variant skipped)")
            self.results["groups"]["granian"] = {"skipped": "granian not installed"}
            return
        # Both servers in one interleaved group (a restart between them), so that the
        # comparison holds on a machine whose load changes.
        self.compare_servers = True
        try:
            group = self.interleaved("granian", ["B0", "B2", "granian B0", "granian B2"])
            group["ratios"] = {
                "granian B0 / gunicorn B0": self.ratio(group, "granian B0", "B0"),
                "granian B2 / gunicorn B2": self.ratio(group, "granian B2", "B2"),
                "granian B2/B0": self.ratio(group, "granian B2", "granian B0"),
            }
        finally:
            self.compare_servers = False
            self.ensure_server("gunicorn")

    def group_lookup(self) -> None:
        from bench import queries

        log("\n== Visitor Lookup over the private API ==")
        self.results["groups"]["lookup"] = queries.measure_lookup(
            port=self.args.port,
            site_key=self.site.key,
            token=self.facts["api_token"],
            profiles=self.args.profiles,
            requests=100,
            reps=self.args.reps,
            log=log,
        )
        k = self.args.profiles // 2 - (self.args.profiles // 2) % 5
        self.results["groups"]["lookup"]["explain"] = queries.explain_lookup(
            site=self.site, user_id=f"u{k}", email=f"user{k}@{datagen.DOMAINS[k % 4]}"
        )

    def group_targeting(self) -> None:
        from bench import queries

        log("\n== Targeting counts (builder preview) against hand-written SQL ==")
        # The load runs changed rows all over the attribute table, so the pages autovacuum
        # has not reached yet are no longer all-visible and index-only scans visit the
        # table for them. Measure that state (warm) first, then vacuum everything, the
        # state autovacuum reaches once the writes pause.
        state = queries.attribute_table_state(self.db_url, site=self.site)
        self.results["attribute_table_after_writes"] = state
        log(
            f"  after the load runs: {state['autovacuum_runs']} autovacuum runs of the "
            f"attribute table, {state['dead_rows']:,} dead rows, "
            f"{state['inserted_since_vacuum']:,} inserted since the last vacuum; the seed "
            f"example's count visits {state['seed_example_heap_fetches']:,} table rows"
        )
        self.results["targeting_after_writes"] = queries.warm_targeting(
            self.db_url, site=self.site, profiles=self.args.profiles, runs=3
        )
        for name, t in self.results["targeting_after_writes"].items():
            log(
                f"  after the load runs, {name:>12}: app "
                f"{t['app']['median']:7.1f} ms, hand {t['hand']['median']:7.1f} ms"
            )
        self.results["vacuum_seconds"] = queries.vacuum_attributes(self.db_url)
        self.results["groups"]["targeting"] = queries.measure_targeting(
            self.db_url,
            site=self.site,
            profiles=self.args.profiles,
            warm_runs=9,
            cold_runs=max(1, min(self.args.reps, 2)),
            log=log,
            restart=self.cluster.restart if self.cluster is not None else None,
        )

    def group_inprocess(self) -> None:
        from bench import inprocess

        log("\n== One request at a time, in-process: CPU per request and where it goes ==")
        # The targeting group's cold counts (or a --reuse start) leave the cache empty:
        # what one request costs is measured with the database in memory, as it is under
        # the load runs.
        warm = postgres.prewarm(self.db_url)
        if warm["prewarmed"]:
            log(f"  prewarmed {warm['pages']:,} pages of {warm['relations']} relations")
        else:
            log(f"  not prewarmed: {warm['reason']}")
        lines = self.widget_lines()
        self.set_widgets(100)
        try:
            # A process of its own: the runner's, after a full run, made the same requests
            # cost half as much again, app and database CPU alike.
            group = inprocess.run_group(
                {
                    "site_key": self.site.key,
                    "token": self.facts["api_token"],
                    "profiles": self.args.profiles,
                    "tag": f"i{self.run_id}",
                    "widget_lines": str(lines),
                    "rounds": max(self.args.reps, 3),
                    "seconds": 1.0,
                    "profile_seconds": 2.0,
                },
                env=self.env,
                work=WORK,
            )
        finally:
            self.set_widgets(10)
        if "failed" in group:
            log(f"  the in-process group failed ({group['failed']}); see {group['log']}")
        self.results["groups"]["inprocess"] = {**group, "cache": warm}

    # --- the whole run ------------------------------------------------------------------------

    def run(self) -> None:
        from django.db import connection

        from bench import capture

        started = time.monotonic()
        groups = self.args.groups
        self.prepare_database()
        self.seed_and_load()
        self.prepare_widgets()
        self.set_widgets(10)
        import psycopg

        with psycopg.connect(self.db_url, autocommit=True) as conn:
            for statement in capture.sequences_sql(self.args.profiles):
                conn.execute(statement)
        self.scripts = capture.build_scripts(
            site_key=self.site.key, n=self.args.profiles, out_dir=WORK / "pgbench"
        )
        self.results["identify_sql"] = {
            kind: {"weight": s["weight"], "statements": s["statements"]}
            for kind, s in self.scripts.items()
        }
        connection.close()
        self.start_server("gunicorn")
        try:
            if "ingest" in groups or "latency" in groups:
                self.group_ingest()
            if "latency" in groups:
                self.group_latency()
            if "widgets" in groups:
                self.group_widgets()
            if "granian" in groups and not self.args.no_granian:
                self.group_granian()
            if "lookup" in groups:
                self.group_lookup()
        finally:
            self.stop_server()
        if "targeting" in groups:
            self.group_targeting()
        if "inprocess" in groups:
            self.group_inprocess()
        connection.close()
        self.results["site_counters"] = checks.site_counters(self.db_url, site_id=self.site.pk)
        self.results["seconds"] = round(time.monotonic() - started, 1)
        self.report()

    def report(self) -> None:
        from bench import report

        table = report.table(self.results, GOALS)
        self.results["table"] = table
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS / f"bench-{stamp}.json"
        text = json.dumps(self.results, indent=1, default=str)
        path.write_text(text)
        (RESULTS / "latest.json").write_text(text)
        print("\n" + "\n".join(table))
        log(f"\nresults: {path.relative_to(BASE_DIR)} ({self.results['seconds']} s in all)")


def _stop(signum, frame):
    raise SystemExit(128 + signum)


def main() -> None:
    args = parse_args()
    bench = Bench(args)
    # Stopped from outside (also when started in the background, where SIGINT is
    # ignored), the run still stops the server it started.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        bench.run()
    finally:
        bench.stop_server()
        if bench.cluster is not None:
            bench.cluster.stop()


if __name__ == "__main__":
    main()
