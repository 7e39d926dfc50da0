"""Fixed-window rate limits counted atomically in the shared cache.

`cache.incr` increments a window's counter atomically and `cache.add` creates it only if
missing, on Redis and on the local-memory cache alike, so concurrent requests never lose a
count (unlike a read-modify-write of a request history). The counter usually exists, so
a limit costs one cache call; the first of a window costs two or three. On the app's Redis
backend every limit of a request is counted in one round trip (`incr_windows`).
"""

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.cache import cache

PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


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


def throttle_hits(
    limits: Sequence[tuple[str, str, Rate]], *, now: float | None = None
) -> int | None:
    """Count one request against every (scope, ident, rate) limit: None if all of them
    allow it, else the seconds until the last refusing window resets."""
    now = time.time() if now is None else now
    windows = []
    for scope, ident, rate in limits:
        window = int(now // rate.period)
        windows.append((f"throttle:{scope}:{ident}:{window}", window, rate))
    count_all = getattr(cache, "incr_windows", None)
    if count_all is not None:
        counts = count_all([(key, rate.period + 1) for key, _, rate in windows])
    else:
        counts = [_count(key, timeout=rate.period + 1) for key, _, rate in windows]
    waits = [
        max(1, int((window + 1) * rate.period - now + 0.999))
        for (_, window, rate), count in zip(windows, counts, strict=True)
        if count > rate.limit
    ]
    return max(waits) if waits else None


def throttle_hit(*, scope: str, ident: str, rate: Rate, now: float | None = None) -> int | None:
    """Count one request against one limit (see `throttle_hits`)."""
    return throttle_hits([(scope, ident, rate)], now=now)


def _count(key: str, *, timeout: int) -> int:
    try:
        return cache.incr(key)
    except ValueError:  # the window's first request (or its counter expired)
        return _window_start(key, timeout=timeout)


def _window_start(key: str, *, timeout: int) -> int:
    """Create a window's counter at 1, or count on the one a concurrent request created."""
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # created and expired in between: this request opens it again
        cache.add(key, 1, timeout=timeout)
        return 1
