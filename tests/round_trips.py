"""Counting the round trips a piece of code makes to PostgreSQL.

libpq's protocol trace (psycopg's `PGconn.trace`) logs every message of the connection,
the client's (`F`) and the server's (`B`). A round trip is the client sending and then
waiting for the server's answer, so each turn from `F` lines to `B` lines counts one,
whatever was sent in between: a statement outside a pipeline, `BEGIN` or `COMMIT`, a
pipeline's sync, or a pipeline flushed to read a statement's rows.
"""

import contextlib
import itertools
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import connection
from psycopg import pq

# A statement as the trace shows it going out: `Parse "<name>" "<text>" <parameters> …`
# for the extended protocol, `Query "<text>"` for the simple one.
_SENT = re.compile(r'^F\t\d+\t(?:Parse\t "[^"]*" "(.*)" \d+|Query\t "(.*)")')


@dataclass
class RoundTrips:
    trace: str = ""
    count: int = 0
    statements: list[str] = field(default_factory=list)


@contextlib.contextmanager
def round_trips(db=connection) -> Iterator[RoundTrips]:
    db.ensure_connection()
    pgconn = db.connection.pgconn
    counted = RoundTrips()
    with tempfile.TemporaryFile("w+") as log:
        pgconn.trace(log.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            yield counted
        finally:
            pgconn.untrace()
        log.seek(0)
        counted.trace = log.read()
    lines = counted.trace.splitlines()
    directions = [line[0] for line in lines if line[:2] in ("F\t", "B\t")]
    counted.count = sum(
        1 for sent, answered in itertools.pairwise(directions) if (sent, answered) == ("F", "B")
    )
    counted.statements = [
        match.group(1) or match.group(2)
        for line in lines
        if (match := _SENT.match(line)) is not None
    ]
