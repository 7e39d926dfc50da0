"""Fixed-window rate limits counted atomically in the shared cache.

`cache.add` creates a window's counter only if missing and `cache.incr` increments it
atomically, on Redis and on the local-memory cache alike, so concurrent requests never
lose a count (unlike a read-modify-write of a request history).
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
    count = _count(key, timeout=rate.period + 1)
    if count > rate.limit:
        return max(1, int((window + 1) * rate.period - now + 0.999))
    return None


def _count(key: str, *, timeout: int) -> int:
    """Add one to the window's counter: a single `incr` once the counter exists (the
    common case); `add` creates it for the first request of a window."""
    try:
        return cache.incr(key)
    except ValueError:  # no counter for this window yet
        pass
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:  # another request created it between the two calls
        return cache.incr(key)
    except ValueError:  # ... and it expired already
        cache.add(key, 1, timeout=timeout)
        return 1
