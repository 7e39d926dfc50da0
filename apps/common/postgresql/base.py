"""Django's PostgreSQL backend, with its batches sized for server-side parameters and a
health check that costs no round trip.

With parameters bound on the server (config/settings/base.py), one statement carries at
most 65,535 of them. Django's PostgreSQL backend never splits a batch, so deleting a site
or an account with more devices or profiles than that (the deletion collector looks
their related rows up with one `IN (…)` of every id) or a large `bulk_create` would fail.
Here a batch is sized to fit, as Django does for the backends that have such a limit.

Django checks a kept connection before a request's first query (`CONN_HEALTH_CHECKS`)
with a `SELECT 1`: one more round trip on every request. Here the check looks at the
socket instead. An idle connection between requests has nothing to read, so input
waiting there means the server has spoken on its own, and it only does that to end the
connection (a restart, `pg_terminate_backend`, an idle timeout: an error message, then
the end of the stream). Such a connection is closed and the request opens a new one, as
after a failed `SELECT 1`. A peer that vanishes without a word passes both checks alike.

Django reads every `timestamptz` through its own loader, a subclass of psycopg's Python
one that parses the text with a regular expression and then sets the time zone, where
psycopg's C loader does the same in C. A Visitor Lookup reads about 40 of them, and the
Python parsing was about a tenth of its time. Here the connections read them with the
loader psycopg picks (C when psycopg's binary build is installed), which gives the
connection's time zone: UTC, which Django sets on every connection when `USE_TZ` is on
and the database has no `TIME_ZONE` of its own, the only case where it is used.
"""

import datetime
import functools
import select

import psycopg
from django.db.backends.postgresql import base, operations
from psycopg import adapt
from psycopg.pq import Format
from psycopg.types.datetime import TimestamptzLoader

# The protocol's limit, less room for the other parameters of the same statement.
MAX_BATCH_PARAMS = 65_535 - 535


class DatabaseOperations(operations.DatabaseOperations):
    def bulk_batch_size(self, fields, objs):
        per_row = max(len(list(fields)), 1)
        return max(min(len(objs), MAX_BATCH_PARAMS // per_row), 1)


def idle_connection_usable(conn: psycopg.Connection) -> bool:
    """Whether an idle connection is still open, judged without sending anything."""
    if conn.closed or conn.broken:
        return False
    try:
        # poll, not select: select refuses descriptors past 1023.
        waiting = select.poll()
        waiting.register(conn.pgconn.socket, select.POLLIN)
        return not waiting.poll(0)
    except (psycopg.Error, OSError, ValueError):
        return False


_TIMESTAMPTZ_OID = psycopg.postgres.types["timestamptz"].oid
# The loader psycopg registers by default: its C one with psycopg's binary build.
_SESSION_ZONE_LOADER = psycopg.adapters.get_loader(_TIMESTAMPTZ_OID, Format.TEXT)


class SessionZoneTimestamptzLoader(TimestamptzLoader):
    """Reads a `timestamptz` with psycopg's default loader, in the session's time zone.

    A subclass of the Python loader, as psycopg's C classes cannot be subclassed and
    Django reads `timezone` off the connection's loader: equal to the connection's zone,
    Django does not register its own loader again on every cursor."""

    timezone = datetime.UTC

    def __init__(self, oid: int, context=None):
        super().__init__(oid, context)
        self.load = _SESSION_ZONE_LOADER(oid, context).load


@functools.lru_cache
def _utc_adapters(template: adapt.AdaptersMap) -> adapt.AdaptersMap:
    adapters = adapt.AdaptersMap(template)
    adapters.register_loader("timestamptz", SessionZoneTimestamptzLoader)
    return adapters


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

    def get_connection_params(self):
        params = super().get_connection_params()
        # Django's zone for this connection is UTC, which it sets as the session's.
        if self.timezone is datetime.UTC and "context" in params:
            params["context"] = _utc_adapters(params["context"])
        return params

    def is_usable(self):
        if self.connection is None:
            return False
        if self.connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            # Inside a transaction (or a failed one): ask the server, as Django does.
            return super().is_usable()
        return idle_connection_usable(self.connection)
