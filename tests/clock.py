"""Tests whose days or day-long windows are read from the clock more than once."""

import time


def clear_of_utc_midnight(margin: float = 60.0) -> None:
    """Wait past UTC midnight when it is less than `margin` seconds away, so that a test
    reading "today" twice reads the same day both times."""
    left = 86_400 - time.time() % 86_400
    if left < margin:
        time.sleep(left + 0.5)


def clear_of_minute_end(margin: float = 5.0) -> None:
    """Wait past the end of the clock's minute when it is less than `margin` seconds
    away, so that a test counting requests against a per-minute limit counts them all in
    one window (the rate limits' windows start on the minute)."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.1)
