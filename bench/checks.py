"""Correctness counters after a load run; every one of them must be 0.

- lost_keys: an identify answer said a `bench_slot<k>` key was stored, yet the person's
  profile does not hold that key with a value of this run (the value names the run);
- duplicate_profiles: user ids with more than one profile on the site, and devices of an
  acknowledged identified call that do not point at that user's profile;
- deadlocks: the change of pg_stat_database.deadlocks for the bench database;
- server_errors: 5xx answers counted by the load tool.

Beside them, what PostgreSQL did on its own during each load run (vacuums, checkpoints,
the time its WAL syncs took), which explains a slow repetition rather than judging it.
"""

from pathlib import Path

import psycopg

ATTR = "user_attributes_attributevalue"


def deadlocks(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()[0]


def read_acks(path: str | Path) -> list[tuple[str, str, str]]:
    path = Path(path)
    if not path.exists():
        return []
    acks = []
    for line in path.read_text().splitlines():
        user, visitor, slot = line.split("|")
        acks.append((user, visitor, slot))
    return acks


def identify_counters(dsn: str, *, site_id: int, tag: str, acks_file: str | Path) -> dict:
    """Lost keys and duplicate profiles for the people an identify run acknowledged."""
    acks = read_acks(acks_file)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE acks (user_id text, visitor_id text, slot text)")
        with conn.cursor().copy("COPY acks FROM STDIN") as copy:
            for row in acks:
                copy.write_row(row)
        conn.execute("ANALYZE acks")
        # The key must be on the profile the answer was about: the user's profile for an
        # identified call, the device's current profile for an anonymous one.
        lost = conn.execute(
            """
            WITH target AS (
              SELECT a.slot, COALESCE(p.id, v.profile_id) AS profile_id
              FROM acks a
              LEFT JOIN identity_profile p ON p.site_id = %(site)s AND a.user_id <> ''
                   AND p.user_id = a.user_id
              LEFT JOIN identity_visitor v ON v.site_id = %(site)s AND a.user_id = ''
                   AND v.visitor_id = a.visitor_id
            )
            SELECT count(*) FROM target t
            WHERE NOT EXISTS (
              SELECT 1 FROM user_attributes_attributevalue av
              WHERE av.site_id = %(site)s AND av.profile_id = t.profile_id AND av.key = t.slot
                AND av.string_value LIKE %(prefix)s
            )
            """,
            {"site": site_id, "prefix": f"{tag}-%"},
        ).fetchone()[0]
        duplicates = conn.execute(
            """
            SELECT count(*) FROM (
              SELECT p.user_id FROM identity_profile p
              WHERE p.site_id = %(site)s
                AND p.user_id IN (SELECT user_id FROM acks WHERE user_id <> '')
              GROUP BY p.user_id HAVING count(*) > 1
            ) d
            """,
            {"site": site_id},
        ).fetchone()[0]
        # A device last identified as a user must belong to that user's profile, unless a
        # later call in the run identified it as someone else (not in this traffic mix).
        misattached = conn.execute(
            """
            SELECT count(DISTINCT a.visitor_id) FROM acks a
            JOIN identity_visitor v ON v.site_id = %(site)s AND v.visitor_id = a.visitor_id
            JOIN identity_profile p ON p.site_id = %(site)s AND p.user_id = a.user_id
            WHERE a.user_id <> '' AND v.profile_id IS DISTINCT FROM p.id
            """,
            {"site": site_id},
        ).fetchone()[0]
    return {
        "acknowledged": len(acks),
        "lost_keys": lost,
        "duplicate_profiles": duplicates + misattached,
    }


def site_counters(dsn: str, *, site_id: int) -> dict:
    """Whole-site checks, run once at the end: duplicate user ids and catalogue counts."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        duplicates = conn.execute(
            "SELECT count(*) FROM (SELECT user_id FROM identity_profile WHERE site_id = %s "
            "AND user_id IS NOT NULL GROUP BY user_id HAVING count(*) > 1) d",
            [site_id],
        ).fetchone()[0]
        drift = conn.execute(
            """
            SELECT count(*) FROM user_attributes_attributekey k
            LEFT JOIN (
              SELECT key, count(*) AS n FROM user_attributes_attributevalue
              WHERE site_id = %(site)s GROUP BY key
            ) v ON v.key = k.key
            WHERE k.site_id = %(site)s AND k.profile_count <> COALESCE(v.n, 0)
            """,
            {"site": site_id},
        ).fetchone()[0]
        orphans = conn.execute(
            "SELECT count(*) FROM identity_profile p WHERE p.site_id = %s AND p.user_id IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM identity_visitor v WHERE v.profile_id = p.id)",
            [site_id],
        ).fetchone()[0]
    return {
        "duplicate_user_ids": duplicates,
        "catalogue_keys_miscounted": drift,
        "anonymous_profiles_without_device": orphans,
    }


def server_errors(statuses: dict) -> int:
    return sum(count for status, count in statuses.items() if str(status).startswith("5"))


def client_errors(statuses: dict) -> int:
    """4xx answers: every request a load run sends is valid, so a 404 or 400 means the run
    measured the wrong thing (a site key of an earlier database, a malformed line)."""
    return sum(count for status, count in statuses.items() if str(status).startswith("4"))


def background_work(dsn: str) -> dict:
    """A snapshot of PostgreSQL's own work on the bench database: vacuums finished per
    table (autovacuum or manual), the tables being vacuumed now, the checkpoints started
    so far, and the WAL syncs (each commit waits for one) with the milliseconds spent in
    them (counted where `track_wal_io_timing` is on, as on the bench's own server). Two
    snapshots around a load run tell what ran beside it (`background_between`).

    Backends report their WAL statistics at most once a second, so the WAL figures of a
    run miss up to its last second and the next run counts it: a mean, not an exact
    count. Checkpoints and WAL syncs are None on a server whose statistics views lack
    the columns (checkpoints moved to `pg_stat_checkpointer` in PostgreSQL 17, WAL sync
    times to `pg_stat_io` in 18)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        finished = dict(
            conn.execute(
                "SELECT relname, autovacuum_count + vacuum_count FROM pg_stat_user_tables"
            ).fetchall()
        )
        running = [
            name
            for (name,) in conn.execute(
                "SELECT c.relname FROM pg_stat_progress_vacuum p "
                "JOIN pg_class c ON c.oid = p.relid WHERE p.datname = current_database()"
            )
        ]
        (checkpoints,) = _stat_row(
            conn, "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter", 1
        )
        wal_syncs, wal_sync_ms = _stat_row(
            conn, "SELECT wal_sync, wal_sync_time FROM pg_stat_wal", 2
        )
    return {
        "vacuums": finished,
        "vacuuming": running,
        "checkpoints": checkpoints,
        "wal_syncs": wal_syncs,
        "wal_sync_ms": wal_sync_ms,
    }


def _stat_row(conn: psycopg.Connection, sql: str, columns: int) -> tuple:
    """The one row of a statistics view, or Nones where this server's view lacks the
    columns."""
    try:
        return tuple(conn.execute(sql).fetchone())
    except (psycopg.errors.UndefinedColumn, psycopg.errors.UndefinedTable):
        return (None,) * columns


def _delta(before, after):
    return None if before is None or after is None else after - before


def background_between(before: dict, after: dict) -> dict:
    """The tables a vacuum worked on at some time between two snapshots (running at either
    end, or started and finished in between), the checkpoints started in between (one
    already running at the first snapshot is not seen), and the mean time of a WAL sync
    in between (None where it is not timed)."""
    vacuumed = {name for name, n in after["vacuums"].items() if n > before["vacuums"].get(name, 0)}
    vacuumed |= set(before["vacuuming"]) | set(after["vacuuming"])
    syncs = _delta(before["wal_syncs"], after["wal_syncs"])
    sync_ms = _delta(before["wal_sync_ms"], after["wal_sync_ms"])
    return {
        "vacuumed": sorted(vacuumed),
        "attribute_table_vacuumed": ATTR in vacuumed,
        "checkpoints": _delta(before["checkpoints"], after["checkpoints"]),
        "wal_syncs": syncs,
        "wal_sync_mean_ms": round(sync_ms / syncs, 2) if syncs and sync_ms else None,
    }
