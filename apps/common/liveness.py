"""Telling the server that a long answer is still making progress.

gunicorn kills a sync worker that has not reported for its `timeout` (30 s): right for a
request stuck on a lock or a slow statement, wrong for a large export that sends rows
for longer than that. A streaming answer calls `progress()` as it goes (once per page of
rows); the worker reports itself alive at most once a second. A request that stops
making progress is still killed after the timeout. Outside gunicorn nothing is reported
(`config/gunicorn.conf.py` installs the worker's report).
"""

import time
from collections.abc import Callable

# At most this often: reporting touches a file.
REPORT_EVERY_SECONDS = 1.0

_report: Callable[[], None] | None = None
_reported_at = 0.0


def progress_report_install(report: Callable[[], None] | None) -> None:
    """What `progress()` calls to tell the server the worker is alive (None: nothing)."""
    global _report
    _report = report


def progress() -> None:
    """The answer being made is moving on: cheap enough to call once per page of rows."""
    global _reported_at
    if _report is None:
        return
    now = time.monotonic()
    if now - _reported_at >= REPORT_EVERY_SECONDS:
        _reported_at = now
        _report()
