"""Fixed-window counting in the shared cache: one window's count, then the next window's."""

import pytest
from django.core.cache import cache

from apps.common.throttling import Rate, throttle_hit


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def test_the_limit_holds_within_a_window_and_a_new_window_starts_at_one():
    rate = Rate(limit=3, period=60)
    start = 6_000.0  # the start of a window

    allowed = [throttle_hit(scope="t", ident="a", rate=rate, now=start + i) for i in range(3)]
    refused = throttle_hit(scope="t", ident="a", rate=rate, now=start + 20)
    next_window = throttle_hit(scope="t", ident="a", rate=rate, now=start + 60)

    assert allowed == [None, None, None]
    assert refused == 40  # seconds until the window ends
    assert next_window is None
    assert cache.get("throttle:t:a:101") == 1


def test_a_counter_that_expired_is_created_again():
    rate = Rate(limit=1, period=60)
    assert throttle_hit(scope="t", ident="b", rate=rate, now=6_000.0) is None
    cache.delete("throttle:t:b:100")  # as if it expired

    assert throttle_hit(scope="t", ident="b", rate=rate, now=6_001.0) is None
    assert throttle_hit(scope="t", ident="b", rate=rate, now=6_002.0) == 58


def test_counters_are_per_scope_and_client():
    rate = Rate(limit=1, period=60)
    assert throttle_hit(scope="site", ident="1", rate=rate, now=6_000.0) is None
    assert throttle_hit(scope="site", ident="2", rate=rate, now=6_000.0) is None
    assert throttle_hit(scope="client", ident="1", rate=rate, now=6_000.0) is None
    assert throttle_hit(scope="site", ident="1", rate=rate, now=6_000.0) == 60
