"""Fixed-window counting in the shared cache: one window's count, then the next window's;
large limits counted in batches per process."""

import pytest
from django.core.cache import cache

from apps.common import throttling
from apps.common.throttling import SYNC_EVERY, Rate, throttle_clear, throttle_hit, throttle_refund


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


# --- batches per process -------------------------------------------------------------------

BIG = Rate(limit=1_000, period=60)  # a batch of 10 hits


def test_a_limit_under_two_hundred_asks_the_shared_cache_on_every_hit():
    rate = Rate(limit=199, period=60)
    assert rate.batch == 1
    throttle_hit(scope="t", ident="exact", rate=rate, now=6_000.0)
    throttle_hit(scope="t", ident="exact", rate=rate, now=6_000.1)

    assert cache.get("throttle:t:exact:100") == 2


def test_a_process_sends_its_hits_a_batch_at_a_time():
    key = "throttle:t:batch:100"
    assert throttle_hit(scope="t", ident="batch", rate=BIG, now=6_000.0) is None
    assert cache.get(key) == 1  # a process's first request asks

    answers = [throttle_hit(scope="t", ident="batch", rate=BIG, now=6_000.0) for _ in range(9)]
    assert answers == [None] * 9
    assert cache.get(key) == 1  # nine hits wait in the process

    assert throttle_hit(scope="t", ident="batch", rate=BIG, now=6_000.0) is None
    assert cache.get(key) == 11  # the tenth waiting hit sent all ten


def test_waiting_hits_are_sent_by_the_first_request_after_half_a_second():
    for _ in range(3):
        throttle_hit(scope="t", ident="slow", rate=BIG, now=6_000.0)
    # Another counter's request, later: it sends every hit waiting in the process.
    throttle_hit(scope="t", ident="other", rate=BIG, now=6_000.0 + SYNC_EVERY)

    assert cache.get("throttle:t:slow:100") == 3
    assert cache.get("throttle:t:other:100") == 1


def test_the_last_hits_before_a_limit_are_counted_exactly():
    cache.set("throttle:t:near:100", 985)  # what other processes counted
    answers = [throttle_hit(scope="t", ident="near", rate=BIG, now=6_000.0) for _ in range(16)]

    # 10 hits learn the shared count, then every hit asks: 15 more fit under 1,000.
    assert answers == [None] * 15 + [60]
    assert cache.get("throttle:t:near:100") == 1_001


def test_processes_together_admit_at_most_one_batch_each_over_the_limit(monkeypatch):
    processes = [throttling._LocalCounts() for _ in range(4)]
    admitted = 0
    for i in range(3_000):
        monkeypatch.setattr(throttling, "_local", processes[i % 4])
        if throttle_hit(scope="t", ident="shared", rate=BIG, now=6_000.0) is None:
            admitted += 1

    assert BIG.limit <= admitted <= BIG.limit + 4 * BIG.batch


def test_a_process_sends_no_hit_twice_and_loses_none():
    hits = 0
    for second in range(40):
        for _ in range(second % 7):  # uneven traffic, across batches and half seconds
            throttle_hit(scope="t", ident="sum", rate=Rate(10**9, 60), now=6_000.0 + second / 4)
            hits += 1
    throttle_hit(scope="t", ident="sum", rate=Rate(10**9, 60), now=6_000.0 + 11)
    hits += 1

    assert cache.get("throttle:t:sum:100") == hits


# --- refunds -------------------------------------------------------------------------------


def test_a_refund_takes_back_a_hit_in_the_window_it_was_counted_in():
    rate = Rate(limit=2, period=60)
    limits = [("t", "refund", rate)]
    for second in (0, 1):
        assert throttle_hit(scope="t", ident="refund", rate=rate, now=6_000.0 + second) is None
    throttle_refund(limits, now=6_000.0)

    assert cache.get("throttle:t:refund:100") == 1
    assert throttle_hit(scope="t", ident="refund", rate=rate, now=6_002.0) is None
    assert throttle_hit(scope="t", ident="refund", rate=rate, now=6_003.0) == 57


def test_a_refund_takes_back_a_hit_still_waiting_in_the_process():
    key = "throttle:t:waiting:100"
    for _ in range(3):
        throttle_hit(scope="t", ident="waiting", rate=BIG, now=6_000.0)
    assert cache.get(key) == 1  # two hits wait in the process

    throttle_refund([("t", "waiting", BIG)], now=6_000.0)
    throttle_hit(scope="t", ident="other", rate=BIG, now=6_000.0 + SYNC_EVERY)

    assert cache.get(key) == 2


def test_a_refund_after_its_counter_is_gone_changes_nothing():
    throttle_refund([("t", "gone", Rate(limit=2, period=60))], now=6_000.0)

    assert cache.get("throttle:t:gone:100") is None
    assert throttle_hit(scope="t", ident="gone", rate=Rate(limit=1, period=60), now=6_000.0) is None


def test_clearing_a_window_forgives_everything_counted_in_it():
    rate = Rate(limit=2, period=60)
    for second in (0, 1, 2):
        throttle_hit(scope="t", ident="clear", rate=rate, now=6_000.0 + second)
    assert throttle_hit(scope="t", ident="clear", rate=rate, now=6_003.0) == 57

    throttle_clear([("t", "clear", rate)], now=6_004.0)

    assert throttle_hit(scope="t", ident="clear", rate=rate, now=6_005.0) is None
    assert cache.get("throttle:t:clear:100") == 1
