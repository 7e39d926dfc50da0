"""How a gunicorn worker ends a connection once it has answered (config/gunicorn_close.py).

A sync worker serves one connection at a time: if it waits for the client to close after
an answer, the next request waits too. It must close at once after a request read to its
end, and still drain a client whose body the app did not read (already sent or still on
its way), so that the kernel does not answer that client with a reset that loses the end
of its response.
"""

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from gunicorn.config import Config
from gunicorn.http import get_parser

from config.gunicorn_close import close_promptly, request_done
from tests.reliability.test_faults import free_port, wait_until_serving

ROOT = Path(__file__).resolve().parents[2]
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
SMALL_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
# Bigger than what a client's socket takes in before its reader runs.
BIG_ANSWER = b"HTTP/1.1 413 Too Large\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1_000_000


def _connected_pair() -> tuple[socket.socket, socket.socket]:
    """A client socket and the server's accepted socket for it, over loopback TCP."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=10)
        served, _ = listener.accept()
    served.settimeout(10)
    return client, served


def _parsed_request(served: socket.socket):
    """The request on `served` as gunicorn's sync worker reads it: headers only; the body
    is read by the app, if at all."""
    return next(get_parser(Config(), served, ("127.0.0.1", 0)))


def _read_to_end(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _answer_and_close(served: socket.socket, answer: bytes) -> threading.Thread:
    def serve():
        served.sendall(answer)
        close_promptly(served)

    thread = threading.Thread(target=serve)
    thread.start()
    return thread


@pytest.mark.parametrize(
    "request_bytes",
    [
        REQUEST,
        b"POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + b"y" * 5000,
        b"POST /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n",
    ],
    ids=["no body", "body of known length", "chunked body"],
)
def test_a_request_read_to_its_end_is_closed_without_waiting_for_the_client(request_bytes):
    client, served = _connected_pair()
    with client:
        client.sendall(request_bytes)
        request = _parsed_request(served)
        request.body.read()  # the app reads the whole body
        request_done(None, request, {}, None)
        served.sendall(SMALL_ANSWER)

        started = time.monotonic()
        close_promptly(served)  # the client has not closed its side, and never does here
        elapsed = time.monotonic() - started

        assert elapsed < 0.5
        assert served.fileno() == -1
        assert _read_to_end(client) == SMALL_ANSWER


def test_a_body_the_app_did_not_read_is_drained_before_the_close():
    client, served = _connected_pair()
    with client:
        client.sendall(b"POST /upload HTTP/1.1\r\nContent-Length: 40000\r\n\r\n" + b"y" * 40_000)
        request = _parsed_request(served)  # the app answers without reading the body
        request_done(None, request, {}, None)
        closing = _answer_and_close(served, BIG_ANSWER)
        time.sleep(0.2)  # the body waits unread on the server while the answer goes out

        received = _read_to_end(client)
        client.close()
        closing.join(timeout=5)

    assert received == BIG_ANSWER
    assert not closing.is_alive()


def test_a_body_still_on_its_way_is_drained_before_the_close():
    """`Expect: 100-continue`: the body follows the headers a round trip later, after
    the app may already have answered from the headers alone."""
    client, served = _connected_pair()
    with client:
        client.sendall(
            b"POST /upload HTTP/1.1\r\nContent-Length: 40000\r\nExpect: 100-continue\r\n\r\n"
        )
        request = _parsed_request(served)
        request_done(None, request, {}, None)
        closing = _answer_and_close(served, BIG_ANSWER)
        time.sleep(0.05)  # the server has answered and closes; then the body arrives
        client.sendall(b"y" * 40_000)

        received = _read_to_end(client)
        client.close()
        closing.join(timeout=5)

    assert received == BIG_ANSWER
    assert not closing.is_alive()


def test_a_client_that_keeps_its_connection_open_does_not_hold_the_worker(tmp_path):
    """The production configuration with one worker: a client that has read its answer
    but not closed must not make the next client wait."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "REQUEST_LOG_LEVEL": "WARNING",
    }
    with (tmp_path / "gunicorn.log").open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}")
        waits = []
        for _ in range(3):
            lingering = socket.create_connection(("127.0.0.1", port), timeout=10)
            lingering.sendall(REQUEST)
            assert _read_to_end(lingering).startswith(b"HTTP/1.1 200")  # its side stays open

            started = time.monotonic()
            with socket.create_connection(("127.0.0.1", port), timeout=10) as second:
                second.sendall(REQUEST)
                assert _read_to_end(second).startswith(b"HTTP/1.1 200")
            waits.append(time.monotonic() - started)
            lingering.close()
    finally:
        server.terminate()
        server.wait(timeout=30)

    # gunicorn's own close would hold the only worker for two seconds each time.
    assert max(waits) < 1.0, waits
