"""Ending a served connection without waiting on the client when nothing is left to read.

gunicorn's sync worker ends every connection with `gunicorn.util.close_graceful`: it
sends its FIN, then reads until the client sends its own (for up to two seconds). The
wait exists for a client that is still sending, such as a request body the app never
read: closing a socket with unread data makes the kernel answer with a reset, and the
reset can destroy the end of a response the client has not read yet. After a request
read to its end there is nothing to drain, yet the worker, which serves one connection
at a time, still waits for the client to read the answer and close: one trip through
the client per request, longer when the client is slow or the machine busy, and two
seconds for a client that keeps its side open. A buffering proxy in front closes at
once; a client reaching the workers directly decides how long each worker stays busy.

`close_promptly` closes at once when nothing is waiting to be read, and otherwise leaves
the connection to gunicorn's graceful close, as nginx's `lingering_close on` does. Data
that arrives between the look and the close (a pipelined request, which the sync worker
does not serve anyway) meets a reset where gunicorn's close would have drained it.
"""

import socket
import ssl

from gunicorn import util

_graceful_close = util.close_graceful


def close_promptly(sock: socket.socket, timeout: float = 2.0, max_drain: int = 65536) -> None:
    """Close `sock` now if the client has sent nothing more; drain it as gunicorn does
    if it has (or if the socket cannot be peeked at without reading)."""
    if isinstance(sock, ssl.SSLSocket):
        _graceful_close(sock, timeout, max_drain)
        return
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
    sock.close()


def install() -> None:
    """Make gunicorn's workers end their connections with `close_promptly`."""
    util.close_graceful = close_promptly
