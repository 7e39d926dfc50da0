"""Small SQL helpers for the statements the ORM cannot say (multi-row upserts with
expressions, `INSERT … RETURNING` used to lock and read a row in one round trip) and for
hot paths where building a queryset costs more than running it (hand-written reads that
still give model instances, converted as the ORM converts them). Everything here runs on
PostgreSQL and on SQLite (3.35+)."""

import contextlib
import functools
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime

from django.db import DEFAULT_DB_ALIAS, OperationalError, connection, connections
from django.db.models import F, Field, Func, Model, TextField

# Quoted identifiers, by name: PostgreSQL and SQLite quote names the same way, and the hot
# paths quote the same few dozen names on every call.
_QUOTED: dict[str, str] = {}


# The one character whose lower case in Python is two ("İ" → "i̇") and in PostgreSQL's
# lower() (the C library's towlower) is one.
_LOWER_BY_POSTGRESQL = {"\u0130": "i"}


def simple_lower(text: str) -> str:
    """Lower case one character at a time, as PostgreSQL's lower() does in a UTF-8 locale
    (no ß → ss; "İSTANBUL" → "istanbul")."""
    return "".join(
        _LOWER_BY_POSTGRESQL.get(c) or (c.lower() if len(c.lower()) == 1 else c) for c in text
    )


def sqlite_functions_register(sender, connection, **kwargs) -> None:
    """On SQLite, LOWER() folds every script as PostgreSQL's does: SQLite's own folds ASCII
    only, so a rule "contains zürich" counted no profile holding "ZÜRICH" in the builder
    while the visitor's own decision (in Python) matched. Hooked to `connection_created`."""
    if connection.vendor == "sqlite":
        raw = connection.connection
        raw.create_function("LOWER", 1, _sqlite_lower, deterministic=True)


def _sqlite_lower(value):
    return simple_lower(value) if isinstance(value, str) else value


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


@contextlib.contextmanager
def text_cursor(db=None) -> Iterator:
    """A cursor that writes its parameters into the statement text, for a text of several
    statements: PostgreSQL takes those only as plain text, while the connection's own
    cursors send parameters apart and prepare repeated statements (settings/base.py). On
    PostgreSQL a psycopg ClientCursor, wrapped as Django wraps its own cursors so that
    query capture and execute wrappers see it; elsewhere the usual cursor."""
    db = db or connection
    if db.vendor != "postgresql":
        with db.cursor() as cursor:
            yield cursor
        return
    from psycopg import ClientCursor

    db.ensure_connection()
    raw = ClientCursor(db.connection)
    with db.make_debug_cursor(raw) if db.queries_logged else db.make_cursor(raw) as cursor:
        yield cursor


def fetch_one(sql: str, params: Sequence, *, cursor=None) -> tuple | None:
    """The first row of a statement, on `cursor` when given (a read of several statements
    shares one), else on a cursor of its own."""
    if cursor is None:
        with connection.cursor() as cursor:
            return fetch_one(sql, params, cursor=cursor)
    cursor.execute(sql, params)
    return cursor.fetchone()


def fetch_all(sql: str, params: Sequence, *, cursor=None) -> list[tuple]:
    """Every row of a statement, on `cursor` when given, else on a cursor of its own."""
    if cursor is None:
        with connection.cursor() as cursor:
            return fetch_all(sql, params, cursor=cursor)
    cursor.execute(sql, params)
    return cursor.fetchall()


def fetch_all_together(statements: Sequence[tuple[str, Sequence]]) -> list[list[tuple]]:
    """Every row of each of several statements that do not need one another's results
    (reads, or writes that return rows). On PostgreSQL they travel in one round trip
    (psycopg's pipeline mode: the statements go out together, the answers come back
    together); elsewhere they run one after another. Either way they run in the order
    given, each seeing the data as of its own start, as separate statements always do."""
    with contextlib.ExitStack() as stack:
        cursors = [stack.enter_context(connection.cursor()) for _ in statements]
        if connection.vendor == "postgresql" and len(statements) > 1:
            # Errors surface when the pipeline ends: give them Django's types there too.
            with connection.wrap_database_errors, connection.connection.pipeline():
                for cursor, (sql, params) in zip(cursors, statements, strict=True):
                    cursor.execute(sql, params)
        else:
            for cursor, (sql, params) in zip(cursors, statements, strict=True):
                cursor.execute(sql, params)
        return [cursor.fetchall() for cursor in cursors]


@contextlib.contextmanager
def statements_pipelined() -> Iterator[None]:
    """Inside the block, on PostgreSQL, a statement whose rows nobody reads waits and
    travels with the next one whose rows are read (or with the block's end): psycopg's
    pipeline mode. The statements still run one after another, in the order given, each
    seeing the ones before it; an error surfaces when its round trip ends, as Django's
    error type. Elsewhere the block changes nothing.

    Use it inside a transaction (a failed statement stops the ones queued after it), and
    read the counts of changed rows only outside it: inside, they are not known yet. That
    rules out the ORM's writes inside the block: `save()`, `update()` and `delete()` read
    those counts (a `save()` of an existing row would take it for new and insert it)."""
    if connection.vendor != "postgresql":
        yield
        return
    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield


class OutOfTime(Exception):
    """A statement was not run, or was cancelled, because its time was up."""


@contextlib.contextmanager
def time_limited(deadline: float | None) -> Iterator[None]:
    """Inside a transaction (or a savepoint), which must roll back on `OutOfTime`: raise
    it when `deadline` (`time.monotonic()`) has passed, and on PostgreSQL cancel a
    statement still running at the deadline. SQLite runs a started statement to its end.
    No deadline: no limit."""
    if deadline is None:
        yield
        return
    left = deadline - time.monotonic()
    if left <= 0:
        raise OutOfTime
    if connection.vendor != "postgresql":
        yield
        return
    from psycopg.errors import QueryCanceled

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('statement_timeout')")
        before = cursor.fetchone()[0]
        # Local to the transaction: a rollback undoes it, a savepoint's too.
        cursor.execute(
            "SELECT set_config('statement_timeout', %s, true)", [f"{max(1, int(left * 1000))}ms"]
        )
    try:
        yield
    except OperationalError as error:
        if isinstance(error.__cause__, QueryCanceled):
            raise OutOfTime from error
        raise
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', %s, true)", [before])


@contextlib.contextmanager
def constraints_checked_at_once() -> Iterator[None]:
    """Inside a transaction: foreign keys are checked at the end of each statement, not at
    the commit (as Django declares them on PostgreSQL), so that the statement carries the
    cost of its checks (a statement deleting a million rows that others point at checks
    each of them in every table pointing there) and a time limit covers it."""
    if connection.vendor != "postgresql":
        yield
        return
    execute("SET CONSTRAINTS ALL IMMEDIATE", [])
    yield
    execute("SET CONSTRAINTS ALL DEFERRED", [])


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


def select_columns(model: type[Model], alias: str) -> str:
    """`alias."column", …` for every concrete field of the model, in field order: the
    columns `instance_from_row` expects."""
    return _select_columns(connection.vendor, model, alias)


@functools.cache
def _select_columns(vendor: str, model: type[Model], alias: str) -> str:
    return ", ".join(f"{alias}.{quote(f.column)}" for f in model._meta.concrete_fields)


def table(model: type[Model]) -> str:
    """The model's quoted table name."""
    return _table(connection.vendor, model)


@functools.cache
def _table(vendor: str, model: type[Model]) -> str:
    return quote(model._meta.db_table)


# Per backend and model: the fields whose raw values the ORM converts when it reads them
# (text dates and 0/1 booleans on SQLite, JSON everywhere).
_CONVERTED: dict[tuple[str, type[Model]], list[tuple[int, Field]]] = {}


def _converted_fields(db, model: type[Model]) -> list[tuple[int, Field]]:
    key = (db.vendor, model)
    found = _CONVERTED.get(key)
    if found is None:
        found = [
            (index, field)
            for index, field in enumerate(model._meta.concrete_fields)
            if db.ops.get_db_converters(field.cached_col) or field.get_db_converters(db)
        ]
        _CONVERTED[key] = found
    return found


def instance_from_row(model: type[Model], values: Sequence) -> Model:
    """A model instance from the raw values of `select_columns(model, …)`, converted as a
    queryset converts them. For hot reads, where building the query costs more than
    running it."""
    db = connections[DEFAULT_DB_ALIAS]
    converted = _converted_fields(db, model)
    if converted:
        values = list(values)
        for index, field in converted:
            col = field.cached_col
            for converter in db.ops.get_db_converters(col) + field.get_db_converters(db):
                values[index] = converter(values[index], col, db)
    return model.from_db(db.alias, None, values)


def instances_from_row(models: Sequence[type[Model]], row: Sequence) -> list[Model | None]:
    """One instance per model from a row of consecutive `select_columns` blocks; None for
    the block of an outer join that found nothing (its primary key is null)."""
    instances: list[Model | None] = []
    start = 0
    for model in models:
        fields = model._meta.concrete_fields
        end = start + len(fields)
        found = row[start + fields.index(model._meta.pk)] is not None
        instances.append(instance_from_row(model, row[start:end]) if found else None)
        start = end
    return instances


def insert_instance(model: type[Model], values: dict) -> Model:
    """One `INSERT … RETURNING id` of a row, each value prepared as the ORM prepares it
    for saving; the saved instance. `values` are keyed by attname (`account_id`)."""
    db = connections[DEFAULT_DB_ALIAS]
    fields = [model._meta.get_field(name) for name in values]
    (row_id,) = fetch_one(
        _insert_sql(db.vendor, model, tuple(values)),
        [
            field.get_db_prep_save(value, db)
            for field, value in zip(fields, values.values(), strict=True)
        ],
    )
    saved = {model._meta.pk.attname: row_id, **values}
    return model.from_db(
        db.alias,
        list(saved),
        [saved[f.attname] for f in model._meta.concrete_fields if f.attname in saved],
    )


@functools.cache
def _insert_sql(vendor: str, model: type[Model], names: tuple[str, ...]) -> str:
    columns = [quote(model._meta.get_field(name).column) for name in names]
    return (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) RETURNING {quote(model._meta.pk.column)}"
    )


class JsonKeyText(Func):
    """The value under one key of a JSON object column, as text (a list or an object as
    its JSON text), NULL where the key is missing. The key is always a key: Django's key
    transforms read a key of digits, such as a question id, as a list index.

    On SQLite a number comes back as a number. SQLite's JSON paths cannot quote a key
    holding a double quote, so such a key is refused."""

    output_field = TextField()

    def __init__(self, column: str, key: str):
        if '"' in key:
            raise ValueError(f"A JSON key for JsonKeyText cannot hold a double quote: {key!r}")
        super().__init__(F(column))
        self.key = key

    def as_sql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"JSON_EXTRACT({sql}, %s)", (*params, f'$."{self.key}"')

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql} ->> %s)", (*params, self.key)


class JsonKeyType(JsonKeyText):
    """The JSON type of the value under one key ("array" for a list, on both databases),
    NULL where the key is missing: a string answer such as "[1]" reads as its text, the
    same as the list [1] would."""

    def as_sql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"JSON_TYPE({sql}, %s)", (*params, f'$."{self.key}"')

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"jsonb_typeof({sql} -> %s)", (*params, self.key)
