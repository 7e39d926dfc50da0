"""Row locks held by another PostgreSQL connection, for tests of what waits for what."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, connections


@contextmanager
def held_elsewhere(sql: str, params: list) -> Iterator[None]:
    """Run `sql` (a lock) in a transaction of another connection that stays open while the
    block runs; this connection gives up on any lock it waits for more than 2 s."""
    holder = connection.get_new_connection(connection.get_connection_params())
    try:
        with holder.cursor() as cursor:
            cursor.execute(sql, params)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        yield
    finally:
        holder.rollback()
        holder.close()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")


def held_for_key_share(model, pk: int):
    """The row held FOR KEY SHARE elsewhere, as the foreign-key check of a row naming it
    holds it until its transaction ends."""
    return held_elsewhere(
        f"SELECT id FROM {model._meta.db_table} WHERE id = %s FOR KEY SHARE", [pk]
    )


def wait_until_blocked_by(holder, timeout: float = 10.0) -> None:
    """Return once some other backend waits for a lock that the connection `holder` holds,
    so a test checks the race it means to rather than one a slow thread never reached."""
    pid = holder.info.backend_pid
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity "
                "WHERE %s = ANY(pg_blocking_pids(pid)))",
                [pid],
            )
            if cursor.fetchone()[0]:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing came to wait for backend {pid} in {timeout} s")
            time.sleep(0.01)


def committed_once_waited_for(statements: list[tuple[str, list]]) -> threading.Thread:
    """Run `statements` in a transaction of another connection now, and commit it once
    some other backend waits for its locks (join the thread after the waiting call)."""
    other = connection.get_new_connection(connection.get_connection_params())
    with other.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)

    def commit():
        try:
            wait_until_blocked_by(other)
        finally:
            other.commit()
            other.close()
            connections.close_all()

    worker = threading.Thread(target=commit)
    worker.start()
    return worker
