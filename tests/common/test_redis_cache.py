"""The Redis cache backend: Django's contract, one client per pool, one round trip per
`incr` (the rate limits count with it on every public call)."""

import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from apps.common.cache import RedisCache

REDIS_URL = "redis://127.0.0.1:6379/14"


def redis_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not redis_available(), reason="Redis is not on 127.0.0.1:6379")


@pytest.fixture
def cache():
    backend = RedisCache(REDIS_URL, {})
    backend.clear()
    yield backend
    backend.clear()


def test_incr_of_a_missing_key_is_refused_and_creates_nothing(cache):
    with pytest.raises(ValueError, match="not found"):
        cache.incr("missing")
    assert cache.get("missing") is None


def test_incr_counts_atomically_under_concurrency(cache):
    cache.add("hits", 0, timeout=60)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: cache.incr("hits"), range(400)))

    assert cache.get("hits") == 400
    assert cache.incr("hits", 5) == 405
    # The counter keeps the expiry it was created with.
    assert 0 < cache._cache.get_client().ttl(cache.make_key("hits")) <= 60


def test_one_client_serves_every_call_and_incr_is_one_round_trip(cache, monkeypatch):
    cache.add("hits", 1, timeout=60)
    cache.incr("hits")  # loads the script on the server
    client = cache._cache.get_client(write=True)
    assert cache._cache.get_client(write=True) is client
    sent = []
    original = client.execute_command

    def count(*args, **options):
        sent.append(args[0])
        return original(*args, **options)

    monkeypatch.setattr(client, "execute_command", count)

    assert cache.incr("hits") == 3
    assert cache.get("hits") == 3
    assert sent == ["EVALSHA", "GET"]
