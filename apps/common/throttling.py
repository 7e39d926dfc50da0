"""Fixed-window rate limits, counted in the shared cache, in batches per process.

A window's counter lives in the shared cache (Redis in production), which adds a count
atomically, so concurrent requests never lose one. Asking the cache on every request
cost a public call about 0.4 ms of CPU (a third of a widget decision), so each process
keeps its own view of the counters and sends its hits in batches:

- A request whose hit the process counts alone is allowed without asking the cache: its
  hit waits to be sent with the next exchange.
- A request exchanges with the cache (sends every hit waiting in this process, its own
  included, and gets each counter's shared count back in one round trip) when one of its
  counters holds a batch (1 % of the limit) of unsent hits, when this process's view of
  one of its counters is within a batch of the limit (so the last hits before a limit are
  counted exactly), or when the last exchange is `SYNC_EVERY` seconds old. A limit under
  200 per window has batches of one hit: every request asks, as before.

A request that exchanges is judged on the shared count its own hit produced, as before.
A process therefore allows fewer than one batch of hits per counter between two looks
at the shared count: with P processes, a window can admit at most about P % more than
its limit, and never more than that, whatever the traffic. Hits of a process that stops
before its next exchange are never sent (the counters undercount by at most a batch per
process, and only then).
"""

import functools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.cache import cache

PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
BATCH_SHARE = 100  # a batch is 1 / BATCH_SHARE of the limit
SYNC_EVERY = 0.5  # seconds: the longest a process keeps hits to itself


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int

    @classmethod
    @functools.cache  # parsed on every public call, from a handful of settings
    def parse(cls, text: str) -> "Rate":
        """`600/min` → Rate(600, 60)."""
        count, _, unit = text.partition("/")
        return cls(limit=int(count), period=PERIODS[unit.strip().lower()])

    @property
    def batch(self) -> int:
        """How many hits a process may count alone on one of this rate's counters."""
        return max(1, self.limit // BATCH_SHARE)


@dataclass
class _Counter:
    shared: int  # the counter's shared count when this process last exchanged it
    unsent: int  # hits this process counted since
    timeout: int  # the counter's lifetime in the cache, set when it is created there
    ends: float  # the end of its window: the process forgets it after that


class _LocalCounts:
    """One process's view of the shared counters (thread-safe: a threaded development
    server shares it between requests)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counters: dict[str, _Counter] = {}
        self.exchanged_at = 0.0

    def hit(
        self, windows: list[tuple[str, float, Rate]], now: float
    ) -> dict[str, tuple[int, int]] | None:
        """Count one request's hits. None when the process allows it alone; else the hits
        to send now (key → (hits, the counter's timeout)), this request's own included."""
        with self.lock:
            counters = []
            for key, ends, rate in windows:
                counter = self.counters.get(key)
                if counter is None:
                    counter = self.counters[key] = _Counter(0, 0, rate.period + 1, ends)
                counters.append(counter)
            due = not 0 <= now - self.exchanged_at < SYNC_EVERY
            alone = not due and all(
                counter.unsent + 1 < rate.batch
                and counter.shared + counter.unsent + 1 <= rate.limit - rate.batch
                for counter, (_, _, rate) in zip(counters, windows, strict=True)
            )
            for counter in counters:
                counter.unsent += 1
            if alone:
                return None
            sending = {k: (c.unsent, c.timeout) for k, c in self.counters.items() if c.unsent}
            for counter in self.counters.values():
                counter.unsent = 0
            self.exchanged_at = now
            self.counters = {k: c for k, c in self.counters.items() if c.ends > now}
            return sending

    def learned(self, counts: dict[str, int]) -> None:
        with self.lock:
            for key, count in counts.items():
                counter = self.counters.get(key)
                if counter is not None:
                    counter.shared = count

    def refund(self, key: str) -> bool:
        """Take back one hit this process has not sent yet: whether there was one."""
        with self.lock:
            counter = self.counters.get(key)
            if counter is None or not counter.unsent:
                return False
            counter.unsent -= 1
            return True

    def clear(self, key: str) -> None:
        """Forget one counter: its unsent hits, and the shared count last seen."""
        with self.lock:
            self.counters.pop(key, None)

    def forget(self) -> None:
        with self.lock:
            self.counters.clear()
            self.exchanged_at = 0.0


_local = _LocalCounts()


def throttle_forget_local() -> None:
    """Drop this process's view of the counters and its unsent hits (tests that clear
    the shared cache call this too)."""
    _local.forget()


def _windows(limits: Sequence[tuple[str, str, Rate]], now: float) -> list[tuple[str, float, Rate]]:
    """Each limit's window at `now`: (its counter's key, when it ends, the rate)."""
    windows = []
    for scope, ident, rate in limits:
        window = int(now // rate.period)
        windows.append((f"throttle:{scope}:{ident}:{window}", (window + 1) * rate.period, rate))
    return windows


def throttle_hits(
    limits: Sequence[tuple[str, str, Rate]], *, now: float | None = None
) -> int | None:
    """Count one request against every (scope, ident, rate) limit: None if all of them
    allow it, else the seconds until the last refusing window resets."""
    now = time.time() if now is None else now
    windows = _windows(limits, now)
    sending = _local.hit(windows, now)
    if sending is None:
        return None
    counts = _send(sending)
    _local.learned(counts)
    waits = [
        max(1, int(ends - now + 0.999)) for key, ends, rate in windows if counts[key] > rate.limit
    ]
    return max(waits) if waits else None


def throttle_hit(*, scope: str, ident: str, rate: Rate, now: float | None = None) -> int | None:
    """Count one request against one limit (see `throttle_hits`)."""
    return throttle_hits([(scope, ident, rate)], now=now)


def throttle_refund(limits: Sequence[tuple[str, str, Rate]], *, now: float) -> None:
    """Take back the hit a request counted at `now` against each limit (an attempt that
    turned out not to count, such as a log-in with the right password). A window that
    has ended since, or a counter the cache has lost, has nothing to take back."""
    for key, _, _ in _windows(limits, now):
        if _local.refund(key):
            continue
        try:
            if cache.decr(key) < 0:
                cache.incr(key)
        except ValueError:  # expired, or never created in this cache
            pass


def throttle_clear(limits: Sequence[tuple[str, str, Rate]], *, now: float) -> None:
    """Start each limit's window at `now` again from nothing (everything counted in it
    is forgiven)."""
    for key, _, _ in _windows(limits, now):
        _local.clear(key)
        cache.delete(key)


def _send(hits: dict[str, tuple[int, int]]) -> dict[str, int]:
    """Add hits to the shared counters (key → (hits, timeout)), a missing counter created
    with its timeout: each counter's count after the addition. One round trip on the
    app's Redis backend."""
    count_all = getattr(cache, "incr_windows", None)
    if count_all is not None:
        counts = count_all([(key, n, timeout) for key, (n, timeout) in hits.items()])
    else:
        counts = [_count(key, n, timeout=timeout) for key, (n, timeout) in hits.items()]
    return dict(zip(hits, counts, strict=True))


def _count(key: str, delta: int, *, timeout: int) -> int:
    try:
        return cache.incr(key, delta)
    except ValueError:  # the window's first hits (or its counter expired)
        return _window_start(key, delta, timeout=timeout)


def _window_start(key: str, delta: int, *, timeout: int) -> int:
    """Create a window's counter at `delta`, or add to the one a concurrent request
    created."""
    if cache.add(key, delta, timeout=timeout):
        return delta
    try:
        return cache.incr(key, delta)
    except ValueError:  # created and expired in between: this request opens it again
        cache.add(key, delta, timeout=timeout)
        return delta


def wait_text(seconds: int) -> str:
    """When a refused request may be made again: "in 12 minutes", "in 40 seconds"."""
    if seconds >= 90:
        return f"in {-(-seconds // 60)} minutes"
    return f"in {max(seconds, 1)} seconds"
