"""Small SQL helpers for the statements the ORM cannot say: multi-row upserts with
expressions, and `INSERT … RETURNING` used to lock and read a row in one round trip.
Everything here runs on PostgreSQL and on SQLite (3.35+)."""

import functools
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from django.db import connection

# Quoted identifiers, by name: PostgreSQL and SQLite quote names the same way, and the hot
# paths quote the same few dozen names on every call.
_QUOTED: dict[str, str] = {}


def quote(name: str) -> str:
    quoted = _QUOTED.get(name)
    if quoted is None:
        quoted = _QUOTED[name] = connection.ops.quote_name(name)
    return quoted


def db_datetime(value: datetime | None):
    """An aware datetime as the active backend stores it (naive UTC text on SQLite)."""
    return connection.ops.adapt_datetimefield_value(value)


def db_date(value: date | None):
    return connection.ops.adapt_datefield_value(value)


def fetch_one(sql: str, params: Sequence) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def fetch_all(sql: str, params: Sequence) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def execute(sql: str, params: Sequence) -> int:
    """Run one statement; the number of rows it changed."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def upsert_rows(
    table: str,
    columns: Sequence[str],
    conflict: Sequence[str],
    rows: Iterable[Sequence],
    updates: str,
) -> None:
    """One `INSERT … ON CONFLICT (conflict) DO UPDATE SET updates` for many rows.

    Callers pass rows sorted by their conflict key so that concurrent statements lock
    rows in the same order and cannot deadlock.
    """
    rows = list(rows)
    if not rows:
        return
    sql = _upsert_sql(table, tuple(columns), tuple(conflict), len(rows), updates)
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row])


@functools.lru_cache(maxsize=256)
def _upsert_sql(
    table: str, columns: tuple[str, ...], conflict: tuple[str, ...], count: int, updates: str
) -> str:
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    return (
        f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES {', '.join([row_sql] * count)} "
        f"ON CONFLICT ({', '.join(quote(c) for c in conflict)}) DO UPDATE SET {updates}"
    )


@functools.cache
def set_from_excluded(columns: tuple[str, ...]) -> str:
    """`a = excluded.a, b = excluded.b`: the update clause of a plain upsert."""
    return ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns)
