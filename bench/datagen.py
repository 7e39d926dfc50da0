"""Load one site with N profiles, their devices, sessions and ~9 typed attributes each.

Rows go in with COPY (psycopg's `cursor.copy`), in one transaction that empties the
identity and attribute tables, drops their secondary indexes and constraints, copies with
FREEZE and builds the indexes again, then VACUUM ANALYZE. It is meant for the bench
database only: everything of every site in those tables is replaced.

The people are deterministic functions of their index `i` (0 <= i < N), so the load
scripts can address them without a list:

- profile i is identified when `i % 5 != 4` (80 %), as user id `u<i>`; its first device is
  visitor `vid(i)`; identified profiles with `i % 5 == 0` have a second device `vid(N + i)`;
- profile i with `i % 5 == 4` is the anonymous profile of visitor `vid(i)`;
- visitors `vid(2N + j)`, `j < N // 5`, have no profile yet (never sent attributes).

Attribute distributions (shares of all profiles): email 80 %, plan 80 % (enterprise
0.1 %), total_spend 80 % (0 for the 20 % of profiles that never bought, log-normal for the
60 % who did), first_purchase and orders 60 %, newsletter 80 % (true for 50 %), country and
ab_test 100 %, signup_date 80 %, app_version 80 %, is_trial 80 % (true for 8 %), referrer
on anonymous profiles 20 %.
"""

import bisect
import itertools
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

VALUE_TYPES = {"number": 1, "string": 2, "date": 4, "boolean": 8}
ATTRIBUTE_KEYS = {
    "email": "string",
    "plan": "string",
    "total_spend": "number",
    "first_purchase": "date",
    "orders": "number",
    "newsletter": "boolean",
    "country": "string",
    "signup_date": "date",
    "ab_test": "string",
    "app_version": "string",
    "is_trial": "boolean",
    "referrer": "string",
}
COUNTRIES = [
    ("US", 35),
    ("GB", 10),
    ("DE", 8),
    ("FR", 6),
    ("CA", 5),
    ("AU", 4),
    ("NL", 3),
    ("ES", 3),
    ("IT", 3),
    ("SE", 2),
    ("BR", 4),
    ("IN", 5),
    ("JP", 3),
    ("PL", 2),
    ("NZ", 1),
    ("IE", 1),
    ("MX", 2),
    ("ZA", 1),
    ("NO", 1),
    ("DK", 1),
]
DOMAINS = ["example.com", "mail.example", "inbox.example.org", "corp.example.net"]
APP_VERSIONS = ["3.9.2", "3.10.0", "3.10.4", "3.11.1", "3.12.0", "3.12.1", "4.0.0", "4.0.2"]
REFERRERS = ["google", "facebook_paid", "newsletter", "twitter", "direct", "partner_blog"]
URLS = [
    "https://radbooks.com/",
    "https://radbooks.com/books/dune",
    "https://radbooks.com/checkout",
    "https://radbooks.com/account",
    "https://radbooks.com/sale",
]

TABLES = {
    "profile": "identity_profile",
    "visitor": "identity_visitor",
    "session": "identity_session",
    "value": "user_attributes_attributevalue",
    "key": "user_attributes_attributekey",
}


def vid(n: int) -> str:
    """The visitor id of device n (32 characters, as the tracking script makes them)."""
    return f"v{n:031d}"


def session_key(n: int) -> str:
    return f"s{n:031d}"


def is_identified(i: int) -> bool:
    return i % 5 != 4


@dataclass
class LoadStats:
    profiles: int = 0
    visitors: int = 0
    sessions: int = 0
    attribute_values: int = 0
    keys: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, label: str, total: int, enabled: bool = True):
        self.label, self.total, self.enabled = label, max(total, 1), enabled
        self.started = self.last = time.monotonic()

    def update(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < 0.5 and not force):
            return
        self.last = now
        share = min(done / self.total, 1.0)
        bar = "#" * int(share * 30)
        rate = done / max(now - self.started, 1e-9)
        sys.stderr.write(
            f"\r  {self.label:<18} [{bar:<30}] {share:6.1%} {done:>11,} rows {rate:>10,.0f}/s"
        )
        sys.stderr.flush()

    def close(self, done: int) -> None:
        self.update(done, force=True)
        if self.enabled:
            sys.stderr.write("\n")


def _secondary_ddl(cur, table: str) -> tuple[list[str], list[str]]:
    """(drop statements, create statements) for everything on `table` but its primary key."""
    cur.execute(
        "SELECT conname, pg_get_constraintdef(oid), contype FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('u', 'f', 'c') ORDER BY contype DESC",
        [table],
    )
    constraints = cur.fetchall()
    cur.execute(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
        "WHERE indrelid = %s::regclass AND NOT indisprimary AND indexrelid NOT IN "
        "(SELECT conindid FROM pg_constraint WHERE conrelid = %s::regclass)",
        [table, table],
    )
    indexes = cur.fetchall()
    drops = [f'ALTER TABLE {table} DROP CONSTRAINT "{name}"' for name, _, _ in constraints]
    drops += [f"DROP INDEX {name}" for name, _ in indexes]
    # Unique constraints (u) first, then checks (c), then foreign keys (f).
    creates = [f'ALTER TABLE {table} ADD CONSTRAINT "{n}" {d}' for n, d, _ in constraints]
    creates += [ddl for _, ddl in indexes]
    return drops, creates


def _weighted(rng: random.Random, choices: list[tuple[str, int]]):
    names = [c for c, _ in choices]
    cumulative = list(itertools.accumulate(w for _, w in choices))
    total = cumulative[-1]

    def pick() -> str:
        return names[bisect.bisect_right(cumulative, rng.random() * total)]

    return pick


def _stamp_tables(now: datetime) -> tuple[list[str], list[str]]:
    days = [(now - timedelta(days=d)).date().isoformat() for d in range(3700)]
    clocks = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(0, 60, 7) for s in (7,)]
    return days, clocks


def _copy(cur, table: str, columns: tuple[str, ...], rows, progress: Progress) -> int:
    """COPY text lines from `rows` (an iterator of ready lines) in chunks."""
    count = 0
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FREEZE)"
    with cur.copy(sql) as copy:
        chunk: list[str] = []
        for line in rows:
            chunk.append(line)
            if len(chunk) >= 20_000:
                copy.write("".join(chunk))
                count += len(chunk)
                chunk.clear()
                progress.update(count)
        if chunk:
            copy.write("".join(chunk))
            count += len(chunk)
    progress.close(count)
    return count


def load(
    dsn: str, *, site_id: int, profiles: int, seed: int = 20260620, progress: bool = True
) -> LoadStats:
    """Replace the identity and attribute tables' contents with `profiles` people of one
    site. Returns row counts, per-key catalogue counts and the time of each phase."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    days, clocks = _stamp_tables(now)
    n_days, n_clocks = len(days), len(clocks)
    stats = LoadStats()
    n = profiles
    first_id = 1
    # Visitor primary keys never equal profile keys, so that captured SQL can tell them apart.
    vbase = 5 * n + 1

    def stamp(day: int) -> str:
        return f"{days[min(day, n_days - 1)]} {clocks[rng.randrange(n_clocks)]}+00"

    now_text = now.isoformat()
    country = _weighted(rng, COUNTRIES)
    key_count = dict.fromkeys(ATTRIBUTE_KEYS, 0)
    anonymous_count = dict.fromkeys(ATTRIBUTE_KEYS, 0)
    created_day = [0] * n

    def profile_rows():
        for i in range(n):
            day = int(1100 * rng.random())
            created_day[i] = day
            user = f"u{i}" if is_identified(i) else "\\N"
            created = stamp(day)
            yield f"{first_id + i}\t{site_id}\t{user}\t{created}\t{created}\n"

    def visitor_rows():
        for i in range(n):
            seen = stamp(created_day[i])
            yield f"{vbase + i}\t{site_id}\t{vid(i)}\t{first_id + i}\t{seen}\t{now_text}\n"
        for i in range(0, n, 5):  # a second device for every fifth (identified) profile
            seen = stamp(created_day[i] // 2)
            yield f"{vbase + n + i}\t{site_id}\t{vid(n + i)}\t{first_id + i}\t{seen}\t{seen}\n"
        for j in range(n // 5):  # devices that never sent attributes
            seen = stamp(int(400 * rng.random()))
            yield f"{vbase + 2 * n + j}\t{site_id}\t{vid(2 * n + j)}\t\\N\t{seen}\t{seen}\n"

    def session_rows():
        number = 0
        visitors = itertools.chain(
            ((i, vbase + i) for i in range(n)),
            ((i, vbase + i) for i in range(n, 2 * n, 5)),
        )
        for index, visitor_pk in visitors:
            if rng.random() >= 0.5:
                continue
            profile_pk = first_id + (index if index < n else index - n)
            started = stamp(int(300 * rng.random()))
            source = REFERRERS[rng.randrange(len(REFERRERS))]
            landing = f"{URLS[rng.randrange(len(URLS))]}?utm_source={source}"
            last = URLS[rng.randrange(len(URLS))]
            pages = 1 + int(rng.expovariate(0.3))
            yield (
                f"{site_id}\t{visitor_pk}\t{profile_pk}\t{session_key(number)}\t"
                f"{landing}\t{last}\thttps://www.{source}.example/\t{pages}\t"
                f"{started}\t{started}\n"
            )
            number += 1

    def value_rows():
        lognorm, expo, rand = rng.lognormvariate, rng.expovariate, rng.random
        for i in range(n):
            pk = first_id + i
            head = f"{site_id}\t{pk}\t"
            at = stamp(created_day[i] // 3)
            rows = []
            if is_identified(i):
                rows.append(f"email\tstring\t\\N\tuser{i}@{DOMAINS[i % 4]}\t\\N\t\\N")
                r = rand()
                plan = (
                    "enterprise"
                    if r < 0.00125
                    else "team"
                    if r < 0.05125
                    else "pro"
                    if r < 0.20125
                    else "basic"
                    if r < 0.5
                    else "free"
                )
                rows.append(f"plan\tstring\t\\N\t{plan}\t\\N\t\\N")
                if rand() < 0.75:
                    spend = round(lognorm(4.3, 1.1), 2)
                    bought = int(2190 * rand() ** 1.7)
                    rows.append(f"total_spend\tnumber\t{spend}\t\\N\t\\N\t\\N")
                    rows.append(f"first_purchase\tdate\t\\N\t\\N\t{stamp(bought)}\t\\N")
                    rows.append(f"orders\tnumber\t{1 + int(expo(0.25))}\t\\N\t\\N\t\\N")
                else:
                    rows.append("total_spend\tnumber\t0\t\\N\t\\N\t\\N")
                rows.append(f"newsletter\tboolean\t\\N\t\\N\t\\N\t{'t' if rand() < 0.625 else 'f'}")
                rows.append(f"signup_date\tdate\t\\N\t\\N\t{stamp(int(2920 * rand()))}\t\\N")
                version = APP_VERSIONS[int(rand() * len(APP_VERSIONS))]
                rows.append(f"app_version\tstring\t\\N\t{version}\t\\N\t\\N")
                rows.append(f"is_trial\tboolean\t\\N\t\\N\t\\N\t{'t' if rand() < 0.1 else 'f'}")
            else:
                referrer = REFERRERS[int(rand() * len(REFERRERS))]
                rows.append(f"referrer\tstring\t\\N\t{referrer}\t\\N\t\\N")
            rows.append(f"country\tstring\t\\N\t{country()}\t\\N\t\\N")
            rows.append(f"ab_test\tstring\t\\N\t{('variant-A', 'variant-B', 'control')[i % 3]}")
            rows[-1] += "\t\\N\t\\N"
            counts = key_count if is_identified(i) else anonymous_count
            for row in rows:
                key = row[: row.index("\t")]
                counts[key] += 1
                yield f"{head}{row}\t{at}\n"

    with psycopg.connect(dsn, autocommit=False) as conn, conn.cursor() as cur:
        cur.execute("SET maintenance_work_mem = '512MB'")
        cur.execute("SET synchronous_commit = off")
        ddl = {name: _secondary_ddl(cur, table) for name, table in TABLES.items()}
        cur.execute(
            "TRUNCATE feedback_targeting_response, identity_session, identity_visitor, "
            "user_attributes_attributevalue, user_attributes_attributekey, identity_profile"
        )
        for drops, _ in ddl.values():
            for statement in drops:
                cur.execute(statement)

        started = time.monotonic()
        stats.profiles = _copy(
            cur,
            TABLES["profile"],
            ("id", "site_id", "user_id", "created_at", "updated_at"),
            profile_rows(),
            Progress("profiles", n, progress),
        )
        stats.visitors = _copy(
            cur,
            TABLES["visitor"],
            ("id", "site_id", "visitor_id", "profile_id", "first_seen_at", "last_seen_at"),
            visitor_rows(),
            Progress("visitors", n + n // 5 + n // 5, progress),
        )
        stats.sessions = _copy(
            cur,
            TABLES["session"],
            (
                "site_id",
                "visitor_id",
                "profile_id",
                "session_key",
                "landing_url",
                "last_url",
                "referrer",
                "page_count",
                "started_at",
                "last_seen_at",
            ),
            session_rows(),
            Progress("sessions", int(0.6 * n), progress),
        )
        stats.attribute_values = _copy(
            cur,
            TABLES["value"],
            (
                "site_id",
                "profile_id",
                "key",
                "value_type",
                "number_value",
                "string_value",
                "date_value",
                "boolean_value",
                "updated_at",
            ),
            value_rows(),
            Progress("attribute values", 9 * n, progress),
        )
        stats.seconds["copy"] = round(time.monotonic() - started, 1)

        for key, value_type in ATTRIBUTE_KEYS.items():
            total = key_count[key] + anonymous_count[key]
            if not total:
                continue
            stats.keys[key] = total
            cur.execute(
                f"INSERT INTO {TABLES['key']} (site_id, key, value_type, types_mask, "
                "profile_count, anonymous_count, first_seen_at, last_seen_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    site_id,
                    key,
                    value_type,
                    VALUE_TYPES[value_type],
                    total,
                    anonymous_count[key],
                    now - timedelta(days=1100),
                    now,
                ],
            )

        started = time.monotonic()
        statements = [s for _, creates in ddl.values() for s in creates]
        bar = Progress("indexes", len(statements), progress)
        for done, statement in enumerate(statements, start=1):
            cur.execute(statement)
            bar.update(done, force=True)
        bar.close(len(statements))
        for table in TABLES.values():
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )
        stats.seconds["indexes"] = round(time.monotonic() - started, 1)
        conn.commit()

    started = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in TABLES.values():
            conn.execute(f"VACUUM (ANALYZE) {table}")
    stats.seconds["vacuum_analyze"] = round(time.monotonic() - started, 1)
    return stats
