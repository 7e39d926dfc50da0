"""Ending a served connection without waiting on the client once its request is read.

gunicorn's sync worker ends every connection with `gunicorn.util.close_graceful`: it
sends its FIN, then reads until the client sends its own (for up to two seconds). The
wait exists for a client that is still sending, such as a request body the app never
read (an answer from the headers alone, or a body that follows `Expect: 100-continue`):
closing a socket with unread data makes the kernel answer with a reset, and the reset
can destroy the end of a response the client has not read yet. After a request read to
its end there is nothing to drain, yet the worker, which serves one connection at a
time, still waits for the client to read the answer and close: one trip through the
client per request, longer when the client is slow or the machine busy, and two seconds
for a client that keeps its side open. A buffering proxy in front closes at once; a
client reaching the workers directly decides how long each worker stays busy.

After each request the worker notes whether its body was read to its end
(`request_done`, gunicorn's `post_request` hook). `close_promptly` closes at once only
for such a request with nothing more waiting on the socket; every other connection
gets gunicorn's graceful close. Data sent after a complete request (a pipelined
request, which the sync worker does not serve anyway) meets a reset where gunicorn's
close would have drained it.
"""

import contextlib
import socket
import ssl
import weakref

from gunicorn import util
from gunicorn.http.body import ChunkedReader, EOFReader, LengthReader

_graceful_close = util.close_graceful
# Sockets whose request was read to its end; the entry goes with the socket.
_read_to_end: "weakref.WeakSet[socket.socket]" = weakref.WeakSet()


def _body_read_to_end(req) -> bool:
    body = getattr(req, "body", None)
    if body is None or body.failed:
        return False
    reader = body.reader
    if isinstance(reader, LengthReader):
        return reader.length == 0
    if isinstance(reader, ChunkedReader):
        return reader.parser is None  # the last chunk and the trailers were read
    # A request with neither a length nor chunks has no body (RFC 9112, 6.3).
    return isinstance(reader, EOFReader)


def request_done(worker, req, environ, resp) -> None:
    """gunicorn's `post_request` hook: note the request's socket when its body was read
    to its end."""
    sock = getattr(getattr(req, "unreader", None), "sock", None)
    if isinstance(sock, socket.socket) and _body_read_to_end(req):
        _read_to_end.add(sock)


def close_promptly(sock: socket.socket, timeout: float = 2.0, max_drain: int = 65536) -> None:
    """Close `sock` now if its request was read to its end and the client has sent
    nothing since; otherwise drain it as gunicorn does."""
    if sock not in _read_to_end or isinstance(sock, ssl.SSLSocket):
        _graceful_close(sock, timeout, max_drain)
        return
    _read_to_end.discard(sock)
    try:
        sock.setblocking(False)
        waiting = sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        waiting = b""  # nothing sent since the request
    except OSError:
        waiting = b""  # the client has gone: there is nothing to protect
    if waiting:
        _graceful_close(sock, timeout, max_drain)
        return
    with contextlib.suppress(OSError):  # as in gunicorn's close: the connection is over
        sock.close()


def install() -> None:
    """Make gunicorn's workers end their connections with `close_promptly`."""
    util.close_graceful = close_promptly
