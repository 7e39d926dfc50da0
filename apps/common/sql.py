"""Small SQL helpers for the statements the ORM cannot say: multi-row upserts with
expressions, and `INSERT … RETURNING` used to lock and read a row in one round trip.
Everything here runs on PostgreSQL and on SQLite (3.35+)."""

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from django.db import connection


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


def db_datetime(value: datetime | None):
    """An aware datetime as the active backend stores it (naive UTC text on SQLite)."""
    return connection.ops.adapt_datetimefield_value(value)


def db_date(value: date | None):
    return connection.ops.adapt_datefield_value(value)


def fetch_one(sql: str, params: Sequence) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


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
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    sql = (
        f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES {', '.join([row_sql] * len(rows))} "
        f"ON CONFLICT ({', '.join(quote(c) for c in conflict)}) DO UPDATE SET {updates}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row])


def set_from_excluded(columns: Iterable[str]) -> str:
    """`a = excluded.a, b = excluded.b`: the update clause of a plain upsert."""
    return ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns)
