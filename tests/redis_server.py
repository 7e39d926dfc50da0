"""Whether a Redis server answers on 127.0.0.1:6379, for tests that need one."""

import socket


def redis_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False
