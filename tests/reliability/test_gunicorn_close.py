"""How a gunicorn worker ends a connection once it has answered (config/gunicorn_close.py).

A sync worker serves one connection at a time: if it waits for the client to close after
an answer, the next request waits too. It must close at once when the client has sent
nothing more, and still drain a client that is sending, so that the kernel does not
answer that client with a reset that loses the end of its response.
"""

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from config.gunicorn_close import close_promptly
from tests.reliability.test_faults import free_port, wait_until_serving

ROOT = Path(__file__).resolve().parents[2]
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def _connected_pair() -> tuple[socket.socket, socket.socket]:
    """A client socket and the server's accepted socket for it, over loopback TCP."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=10)
        served, _ = listener.accept()
    return client, served


def _read_to_end(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_an_answered_connection_is_closed_without_waiting_for_the_client():
    client, served = _connected_pair()
    with client:
        client.sendall(REQUEST)
        assert served.recv(len(REQUEST)) == REQUEST
        served.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

        started = time.monotonic()
        close_promptly(served)  # the client has not closed its side, and never does here
        elapsed = time.monotonic() - started

        assert elapsed < 0.5
        assert served.fileno() == -1
        assert _read_to_end(client) == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_a_client_still_sending_gets_its_whole_answer():
    """The app answered without reading the body: the rest of it is drained before the
    close, so the answer reaches the client whole instead of being cut by a reset."""
    client, served = _connected_pair()
    answer = b"HTTP/1.1 413 Too Large\r\nContent-Length: 200000\r\n\r\n" + b"x" * 200_000
    with client:
        client.sendall(b"POST /upload HTTP/1.1\r\nContent-Length: 40000\r\n\r\n" + b"y" * 40_000)
        served.recv(100)  # the request line; the body stays unread
        served.sendall(answer)
        closing = threading.Thread(target=close_promptly, args=(served,))
        closing.start()
        time.sleep(0.2)  # the server has finished with the socket before the client reads

        received = _read_to_end(client)
        client.close()
        closing.join(timeout=5)

    assert received == answer
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
