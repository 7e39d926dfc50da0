"""Tests whose days or day-long windows are read from the clock more than once."""

import time


def clear_of_utc_midnight(margin: float = 60.0) -> None:
    """Wait past UTC midnight when it is less than `margin` seconds away, so that a test
    reading "today" twice reads the same day both times."""
    left = 86_400 - time.time() % 86_400
    if left < margin:
        time.sleep(left + 0.5)
