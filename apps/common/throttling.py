"""Fixed-window rate limits counted atomically in the shared cache.

`cache.incr` increments a window's counter atomically and `cache.add` creates it only if
missing, on Redis and on the local-memory cache alike, so concurrent requests never lose a
count (unlike a read-modify-write of a request history). The counter usually exists, so
a request costs one cache call; the first of a window costs two or three.
"""

import time
from dataclasses import dataclass

from django.core.cache import cache

PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int

    @classmethod
    def parse(cls, text: str) -> "Rate":
        """`600/min` → Rate(600, 60)."""
        count, _, unit = text.partition("/")
        return cls(limit=int(count), period=PERIODS[unit.strip().lower()])


def throttle_hit(*, scope: str, ident: str, rate: Rate, now: float | None = None) -> int | None:
    """Count one request; None if allowed, else the seconds until the window resets."""
    now = time.time() if now is None else now
    window = int(now // rate.period)
    key = f"throttle:{scope}:{ident}:{window}"
    try:
        count = cache.incr(key)
    except ValueError:  # the window's first request (or its counter expired)
        count = _window_start(key, timeout=rate.period + 1)
    if count > rate.limit:
        return max(1, int((window + 1) * rate.period - now + 0.999))
    return None


def _window_start(key: str, *, timeout: int) -> int:
    """Create a window's counter at 1, or count on the one a concurrent request created."""
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # created and expired in between: this request opens it again
        cache.add(key, 1, timeout=timeout)
        return 1
