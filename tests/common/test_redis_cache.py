"""The Redis cache backend: Django's contract, one client per pool, one round trip per
`incr` (the rate limits count with it on every public call)."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from apps.common.cache import RedisCache
from apps.common.throttling import Rate, throttle_hits
from tests.redis_server import redis_available

REDIS_URL = "redis://127.0.0.1:6379/14"


def record_commands(client, monkeypatch) -> list[str]:
    """The names of the commands the client sends from now on."""
    sent: list[str] = []
    original = client.execute_command

    def record(*args, **options):
        sent.append(args[0])
        return original(*args, **options)

    monkeypatch.setattr(client, "execute_command", record)
    return sent


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
    sent = record_commands(client, monkeypatch)

    assert cache.incr("hits") == 3
    assert cache.get("hits") == 3
    assert sent == ["EVALSHA", "GET"]


def test_windows_are_counted_in_one_round_trip_and_start_with_their_timeout(cache, monkeypatch):
    assert cache.incr_windows([("a", 1, 60), ("b", 3, 5)]) == [1, 3]  # loads the script
    client = cache._cache.get_client(write=True)
    sent = record_commands(client, monkeypatch)

    assert cache.incr_windows([("a", 1, 60), ("b", 2, 5)]) == [2, 5]
    assert sent == ["EVALSHA"]
    assert (cache.get("a"), cache.get("b")) == (2, 5)
    assert 5 < client.ttl(cache.make_key("a")) <= 60
    assert 0 < client.ttl(cache.make_key("b")) <= 5


def test_the_rate_limits_of_a_request_count_on_redis_as_in_memory(cache, settings):
    settings.CACHES = {
        "default": {"BACKEND": "apps.common.cache.RedisCache", "LOCATION": REDIS_URL}
    }
    rate = Rate(limit=2, period=60)
    limits = [("site", "1", Rate(limit=100, period=60)), ("client", "a", rate)]

    answers = [throttle_hits(limits, now=6_000.0 + i) for i in range(3)]

    assert answers == [None, None, 58]
    assert (cache.get("throttle:site:1:100"), cache.get("throttle:client:a:100")) == (3, 3)


def test_hits_waiting_in_a_process_reach_redis_together_in_one_round_trip(
    cache, settings, monkeypatch
):
    settings.CACHES = {
        "default": {"BACKEND": "apps.common.cache.RedisCache", "LOCATION": REDIS_URL}
    }
    from django.core.cache import cache as default_cache

    rate = Rate(limit=1_000, period=60)  # batches of 10
    site, client = ("site", "1", rate), ("client", "a", rate)
    assert throttle_hits([site, client], now=6_000.0) is None  # the process's first ask
    for _ in range(3):
        assert throttle_hits([site, client], now=6_000.1) is None
    sent = record_commands(default_cache._cache.get_client(write=True), monkeypatch)

    assert throttle_hits([site], now=6_000.6) is None

    assert sent == ["EVALSHA"]
    assert (cache.get("throttle:site:1:100"), cache.get("throttle:client:a:100")) == (5, 4)
    assert 0 < cache._cache.get_client().ttl(cache.make_key("throttle:client:a:100")) <= 61
