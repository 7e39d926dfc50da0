"""Targeting counts and Visitor Lookup, measured against hand-written SQL.

The builder's count runs in-process through `targeting_count` (rule parsing, compilation
and the query, as the builder's preview does). Each rule's hand-written query gives the
same answer straight from the attribute table; both must agree. Both go through the same
Django connection and cursor, the hand-written query in one round trip, the app's in one
or two (a count merging several keys reads its split point first). A hand-written join
is planned with the app's merge settings (hash joins and parallel workers off,
`HAND_JOIN_SETTINGS`) as one join in one process, where the app's count runs two halves
in parallel workers: the ratio shows what the app's own SQL gains or adds against the
join an engineer would write. The same join planned
with PostgreSQL's defaults (a hash join) is timed too, as `hand_default_plan_ms`.
"Cold" means PostgreSQL's shared buffers were emptied (the bench's own server is
restarted; another server's are filled by reading a ballast table through an index) and
the kernel's page cache was dropped where the machine allows it; "warm" is the same call
repeated, app and hand-written alternating which goes first.
"""

import http.client
import re
import statistics
import time
from datetime import timedelta
from pathlib import Path

import psycopg
from django.db import connection
from django.utils import timezone

from apps.common.demo import DEMO_POLL_TARGETING
from apps.common.sql import text_cursor
from apps.feedback_targeting.rules import parse_rule
from apps.feedback_targeting.selectors import targeting_count, targeting_count_sql
from apps.sites.models import Site
from bench.checks import ATTR

HAND_JOIN_SETTINGS = (
    "SET LOCAL enable_hashjoin = off; SET LOCAL max_parallel_workers_per_gather = 0; "
)


def ballast_create(dsn: str) -> int:
    """An unlogged table twice the size of shared_buffers, read to evict everything else."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        buffers = conn.execute(
            "SELECT setting::bigint * 8192 FROM pg_settings WHERE name = 'shared_buffers'"
        ).fetchone()[0]
        rows = int(2 * buffers / 250)
        conn.execute("DROP TABLE IF EXISTS bench_ballast")
        conn.execute(
            "CREATE UNLOGGED TABLE bench_ballast AS "
            "SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, %s) g",
            [rows],
        )
        conn.execute("CREATE INDEX ON bench_ballast (id)")
        conn.execute("VACUUM ANALYZE bench_ballast")
        return rows


def make_cold(dsn: str, restart=None) -> bool:
    """Evict the bench tables from shared buffers (by `restart`ing the server, else with
    the ballast), then drop the page cache if allowed."""
    if restart is not None:
        restart()
    else:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SET enable_seqscan = off")
            conn.execute("SET enable_bitmapscan = off")
            conn.execute("SELECT sum(length(pad)) FROM bench_ballast WHERE id > 0")
    try:
        with open("/proc/sys/vm/drop_caches", "w") as handle:
            handle.write("1\n")
        return True
    except OSError:
        return False


def rules_for(dsn: str, *, site_id: int, profiles: int) -> dict[str, dict]:
    """The seed's example rule and rules matching ~0.1 %, 1 %, 10 % and 50 % of profiles,
    with thresholds read from the loaded data."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        day = conn.execute(
            f"SELECT date_value FROM {ATTR} WHERE site_id = %s AND key = 'first_purchase' "
            "ORDER BY date_value DESC OFFSET %s LIMIT 1",
            [site_id, profiles // 100],
        ).fetchone()
        spend = conn.execute(
            f"SELECT number_value FROM {ATTR} WHERE site_id = %s AND key = 'total_spend' "
            "ORDER BY number_value DESC OFFSET %s LIMIT 1",
            [site_id, profiles // 10],
        ).fetchone()
    after = (day[0] - timedelta(days=1)).date().isoformat() if day else "2026-01-01"
    return {
        "seed example": DEMO_POLL_TARGETING,
        "0.1 %": {
            "match": "all",
            "conditions": [
                {"type": "string", "key": "plan", "op": "equals", "value": "enterprise"}
            ],
        },
        "1 %": {
            "match": "all",
            "conditions": [
                {"type": "date", "key": "first_purchase", "op": "after", "value": after}
            ],
        },
        "10 %": {
            "match": "all",
            "conditions": [
                {
                    "type": "number",
                    "key": "total_spend",
                    "op": "gt",
                    "value": spend[0] if spend else 0,
                }
            ],
        },
        "50 %": {
            "match": "all",
            "conditions": [{"type": "boolean", "key": "newsletter", "op": "is_true"}],
        },
    }


def hand_sql(rule: dict, *, site_id: int, now, default_plan: bool = False) -> tuple[str, list]:
    """The query an engineer would write for the same count, on the attribute table only
    (one row per profile and key, so count(*) counts profiles). A join is preceded by
    the planner settings the app uses for its joins, unless `default_plan`."""
    conditions = rule["conditions"]

    def one(alias: str, c: dict) -> tuple[str, list]:
        base = f"{alias}.site_id = %s AND {alias}.key = %s AND {alias}.value_type = %s"
        params: list = [site_id, c["key"], c["type"]]
        op, value = c["op"], c.get("value")
        if c["type"] == "number":
            base += f" AND {alias}.number_value > %s"
            params.append(value)
        elif c["type"] == "string":
            base += f" AND {alias}.string_value = %s"
            params.append(value)
        elif c["type"] == "boolean":
            base += f" AND {alias}.boolean_value = %s"
            params.append(op == "is_true")
        elif op == "after":
            base += f" AND {alias}.date_value >= (%s::date + 1)::timestamptz"
            params.append(value)
        elif op == "more_than_days_ago":
            base += f" AND {alias}.date_value < %s"
            params.append(now - timedelta(days=value))
        return base, params

    first, params = one("a", conditions[0])
    if len(conditions) == 1:
        return f"SELECT count(*) FROM {ATTR} a WHERE {first}", params
    second, more = one("b", conditions[1])
    return (
        ("" if default_plan else HAND_JOIN_SETTINGS)
        + f"SELECT count(*) FROM {ATTR} a JOIN {ATTR} b ON b.profile_id = a.profile_id "
        f"AND {second} WHERE {first}",
        more + params,
    )


def _first_rows(cursor) -> list:
    """The rows of the first statement of a multi-statement text that returns any."""
    while cursor.description is None and cursor.nextset():
        pass
    return cursor.fetchall()


def _explain(sql: str, params: list) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the last statement, after the ones before it (the
    planner settings) ran in the same implicit transaction."""
    *settings, last = sql.split("; ")
    text = "; ".join([*settings, "EXPLAIN (ANALYZE, BUFFERS) " + last])
    with text_cursor() as cursor:
        cursor.execute(text, params)
        return "\n".join(row[0] for row in _first_rows(cursor))


def _app_sql(site: Site, rule_json: dict, now) -> tuple[str, list]:
    """The statement `targeting_count` executes for this rule (outside any transaction)."""
    query = targeting_count_sql(site=site, rule=parse_rule(rule_json), now=now)
    return query.statement(vendor=connection.vendor, in_transaction=False), query.params


def _app_count(site: Site, rule_json: dict, now) -> tuple[int, float]:
    started = time.perf_counter()
    count = targeting_count(site=site, rule=parse_rule(rule_json), now=now)
    return count, (time.perf_counter() - started) * 1000


def _hand_count(sql: str, params: list) -> tuple[int, float]:
    started = time.perf_counter()
    # Sent as the app sends its counts: parameters written into the text.
    with text_cursor() as cursor:
        cursor.execute(sql, params)
        count = _first_rows(cursor)[0][0]
    return count, (time.perf_counter() - started) * 1000


# A fast count is repeated until its pairs took this long (up to WARM_MAX_PAIRS), so that
# a millisecond count's median is not one scheduler hiccup on a shared machine.
WARM_BUDGET_S = 3.0
WARM_MAX_PAIRS = 101


def _warm_pairs(site: Site, rule: dict, now, sql: str, params: list, runs: int) -> dict:
    """Warm app and hand-written counts in pairs, the first of each pair alternating:
    at least `runs` pairs, more while they fit in WARM_BUDGET_S."""
    times: dict = {"app": [], "hand": [], "counts": set()}
    started = time.perf_counter()
    turn = 0
    while turn < runs or (time.perf_counter() - started < WARM_BUDGET_S and turn < WARM_MAX_PAIRS):
        if turn % 2:
            hand, hand_ms = _hand_count(sql, params)
            count, app_ms = _app_count(site, rule, now)
        else:
            count, app_ms = _app_count(site, rule, now)
            hand, hand_ms = _hand_count(sql, params)
        times["app"].append(app_ms)
        times["hand"].append(hand_ms)
        times["counts"].add((count, hand))
        turn += 1
    return times


def _spread(values: list[float]) -> dict:
    return {
        "median": round(statistics.median(values), 2),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
    }


def warm_targeting(dsn: str, *, site: Site, profiles: int, runs: int) -> dict:
    """Warm medians only, app and hand-written, for the state the data is in now."""
    now = timezone.now()
    result = {}
    for name, rule in rules_for(dsn, site_id=site.pk, profiles=profiles).items():
        sql, params = hand_sql(rule, site_id=site.pk, now=now)
        warm = _warm_pairs(site, rule, now, sql, params, runs)
        result[name] = {
            "app": _spread(warm["app"]),
            "hand": _spread(warm["hand"]),
            "pairs": len(warm["app"]),
        }
    return result


def attribute_table_state(dsn: str, *, site: Site) -> dict:
    """How far vacuum has kept up with the writes: the attribute table's autovacuum runs
    and the rows changed since the last one, and how many table rows the seed example's
    count had to visit because their pages were not all-visible (`Heap Fetches`)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT autovacuum_count, n_dead_tup, n_ins_since_vacuum, n_live_tup "
            "FROM pg_stat_user_tables WHERE relname = %s",
            [ATTR],
        ).fetchone()
    plan = _explain(*_app_sql(site, DEMO_POLL_TARGETING, timezone.now()))
    fetches = sum(int(n) for n in re.findall(r"Heap Fetches: (\d+)", plan))
    return {
        "autovacuum_runs": row[0],
        "dead_rows": row[1],
        "inserted_since_vacuum": row[2],
        "live_rows": row[3],
        "seed_example_heap_fetches": fetches,
    }


def vacuum_attributes(dsn: str) -> float:
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"VACUUM (ANALYZE) {ATTR}")
    return round(time.perf_counter() - started, 1)


def measure_targeting(
    dsn: str, *, site: Site, profiles: int, warm_runs: int, cold_runs: int, log, restart=None
) -> dict:
    now = timezone.now()
    rules = rules_for(dsn, site_id=site.pk, profiles=profiles)
    results = {}
    for name, rule in rules.items():
        sql, params = hand_sql(rule, site_id=site.pk, now=now)
        cold = {"app": [], "hand": []}
        page_cache_dropped = True
        for _ in range(cold_runs):
            for which in ("app", "hand"):
                connection.close()
                page_cache_dropped &= make_cold(dsn, restart)
                if which == "app":
                    count, ms = _app_count(site, rule, now)
                else:
                    hand, ms = _hand_count(sql, params)
                cold[which].append(ms)
        warm = _warm_pairs(site, rule, now, sql, params, warm_runs)
        counts = warm.pop("counts")
        count, hand = min(counts)
        default_plan = []
        if len(rule["conditions"]) > 1:
            plain = hand_sql(rule, site_id=site.pk, now=now, default_plan=True)
            default_plan = [_hand_count(*plain)[1] for _ in range(3)]
        if len(counts) != 1 or count != hand:
            raise AssertionError(f"rule {name}: app and hand-written counts {sorted(counts)}")
        app_query = _app_sql(site, rule, now)
        app_warm = statistics.median(warm["app"])
        hand_warm = statistics.median(warm["hand"])
        results[name] = {
            "rule": rule,
            "matches": count,
            "selectivity": round(count / profiles, 5),
            "cold_ms": {k: _spread(v) for k, v in cold.items()},
            "warm_ms": {k: _spread(v) for k, v in warm.items()},
            "warm_pairs": len(warm["app"]),
            "warm_ratio_app_to_hand": round(app_warm / max(hand_warm, 1e-6), 2),
            "cold_ratio_app_to_hand": round(
                statistics.median(cold["app"]) / max(statistics.median(cold["hand"]), 1e-6), 2
            ),
            "hand_default_plan_ms": _spread(default_plan) if default_plan else None,
            "page_cache_dropped": page_cache_dropped,
            "app_sql": connection.ops.compose_sql(*app_query),
            "hand_sql": connection.ops.compose_sql(sql, params),
            "explain_app": _explain(*app_query),
            "explain_hand": _explain(sql, params),
        }
        log(
            f"  targeting {name:>12}: {count:>9,} matches, warm app "
            f"{app_warm:7.1f} ms vs hand {hand_warm:7.1f} ms, cold app "
            f"{statistics.median(cold['app']):7.1f} ms vs hand "
            f"{statistics.median(cold['hand']):7.1f} ms"
            + (
                f", hand with the default plan {statistics.median(default_plan):7.1f} ms"
                if default_plan
                else ""
            )
        )
    return results


def measure_lookup(
    *,
    port: int,
    site_key: str,
    token: str,
    profiles: int,
    requests: int,
    reps: int,
    log,
    warmup: int = 50,
) -> dict:
    """Visitor Lookup through the private API, one request at a time, by user id and by
    email (interleaved), for people spread over the whole site. `warmup` requests of each
    kind go first, untimed: the group can start right after a server restart, and a new
    worker's first calls pay for its connection and for planning statements that a
    running server has prepared long ago."""
    import random

    rng = random.Random(7)

    def lookup(kind: str) -> tuple[float, int, bytes]:
        query = lookup_query(rng, profiles, kind)
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request(
            "GET",
            f"/api/v1/sites/{site_key}/lookup?{query}",
            headers={"Authorization": f"Bearer {token}"},
        )
        response = conn.getresponse()
        body = response.read()
        conn.close()
        return (time.perf_counter() - started) * 1000, response.status, body

    for _ in range(warmup):
        for kind in ("user_id", "email"):
            lookup(kind)
    latencies: dict[str, list[list[float]]] = {"user_id": [], "email": []}
    statuses: dict[str, int] = {}
    found = {"user_id": 0, "email": 0}
    for _ in range(reps):
        for kind in ("user_id", "email"):
            times = []
            for _ in range(requests):
                ms, status, body = lookup(kind)
                times.append(ms)
                statuses[str(status)] = statuses.get(str(status), 0) + 1
                found[kind] += body.count(b'"user_id":"u')
            latencies[kind].append(sorted(times))
    result = {"statuses": statuses, "found": found, "warmup_requests": 2 * warmup}
    for kind, runs in latencies.items():
        p50 = [statistics.median(run) for run in runs]
        p95 = [run[int(0.95 * len(run)) - 1] for run in runs]
        result[kind] = {"p50_ms": _spread(p50), "p95_ms": _spread(p95), "p95_runs_ms": p95}
        log(
            f"  lookup by {kind:<7}: p50 {statistics.median(p50):6.2f} ms, "
            f"p95 {statistics.median(p95):6.2f} ms (each rep: "
            f"{' / '.join(f'{v:.1f}' for v in p95)})"
        )
    return result


def lookup_query(rng, profiles: int, kind: str) -> str:
    """The query string of a lookup by `kind` ("user_id" or "email") for an identified
    person drawn from the whole site (every fifth profile is anonymous)."""
    from bench.datagen import DOMAINS

    k = rng.randrange(profiles)
    k -= 1 if k % 5 == 4 else 0
    return f"user_id=u{k}" if kind == "user_id" else f"email=user{k}@{DOMAINS[k % 4]}"


def explain_lookup(*, site: Site, user_id: str, email: str) -> dict:
    from apps.identity.selectors import profiles_matching

    plans = {}
    for name, terms in (("user_id", {"user_id": user_id}), ("email", {"email": email})):
        query = profiles_matching(site=site, **({"user_id": None, "email": None} | terms))
        query = query.values("pk")
        sql, params = query.query.sql_with_params()
        plans[name] = _explain(sql, list(params))
    return plans


def save_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
