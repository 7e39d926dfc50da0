"""Objects kept as live Python objects in this process's memory, checked against a stamp
in the shared cache.

A read costs one small `cache.get` (the stamp) instead of unpickling the objects or
querying the database; with `check_every`, a busy process reads an entry's stamp at most
that often and serves the entry from memory in between. A write calls `forget`, which
gives the entry a new random stamp: every process sees the new stamp on its next check
and loads the objects again. The stamp is random rather than a counter so that a cleared
or evicted cache can never bring back a stamp some process still holds. With a
per-process cache (the local-memory default) other processes cannot see a new stamp, so
an entry is also reloaded after `seconds`.
"""

import secrets
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from django.core.cache import cache
from django.db import transaction

T = TypeVar("T")

# How long a busy process serves a kept entry before reading its stamp again: a change
# made in another process reaches this one within this time (with a shared cache).
STAMP_CHECK_SECONDS = 1.0

_instances: "weakref.WeakSet[StampedLocalCache]" = weakref.WeakSet()


@dataclass(frozen=True)
class _Entry:
    stamp: str
    expires: float
    value: Any
    checked: float  # when the stamp was last read and matched


def clear_local() -> None:
    """Drop every entry this process keeps, as after a restart (for tests, which clear
    the shared cache between them and may reuse ids)."""
    for kept in list(_instances):
        with kept._lock:
            kept._entries.clear()


class StampedLocalCache(Generic[T]):
    """`check_every`: seconds during which an entry is served without reading its stamp
    again. A change made in this process is seen at once (`forget` drops the entry here);
    one made in another process within `check_every`."""

    def __init__(
        self, name: str, *, seconds: float, check_every: float = 0.0, max_entries: int = 1000
    ):
        self.name = name
        self.seconds = seconds
        self.check_every = check_every
        self.max_entries = max_entries
        self._entries: dict[Hashable, _Entry] = {}
        self._lock = threading.Lock()
        self._renewals = 0  # forgets in this process, of any ident
        _instances.add(self)

    def _stamp_key(self, ident: Hashable) -> str:
        return f"stamp:{self.name}:{ident}"

    def get(self, ident: Hashable, load: Callable[[], T]) -> T:
        """The value for `ident`, loaded again if its stamp changed or it is too old.

        The stamp is read before loading, so a change made while loading leaves a new
        stamp behind and the next read loads again. A value of None is not kept (and
        leaves no stamp behind: asking for unknown idents fills no cache).
        """
        entry = self._entries.get(ident)
        now = time.monotonic()
        if entry is not None and entry.expires > now and now - entry.checked < self.check_every:
            return entry.value
        # A `forget` in this process while this read runs must not be undone by it.
        renewals = self._renewals
        key = self._stamp_key(ident)
        stamp = cache.get(key)
        if entry is not None and entry.stamp == stamp and entry.expires > now:
            if self.check_every:
                with self._lock:
                    if self._renewals == renewals and self._entries.get(ident) is entry:
                        self._entries[ident] = replace(entry, checked=now)
            return entry.value
        created = False
        if stamp is None:
            created = cache.add(key, secrets.token_hex(8), timeout=None)
            stamp = cache.get(key)
        value = load()
        if value is None or stamp is None:
            if created:
                # Removing a stamp is always safe: every holder of an entry reloads.
                cache.delete(key)
            return value
        with self._lock:
            if self._renewals != renewals:
                return value  # forgotten meanwhile: not kept, the next read loads again
            if len(self._entries) >= self.max_entries and ident not in self._entries:
                self._entries.clear()
            self._entries[ident] = _Entry(
                stamp=stamp, expires=now + self.seconds, value=value, checked=now
            )
        return value

    def forget(self, ident: Hashable) -> None:
        """Make every process load `ident` again: now, and once more when the current
        transaction commits (a process that read the old rows in between reloads)."""
        self._renew(ident)
        transaction.on_commit(lambda: self._renew(ident))

    def _renew(self, ident: Hashable) -> None:
        cache.set(self._stamp_key(ident), secrets.token_hex(8), timeout=None)
        with self._lock:
            self._renewals += 1
            self._entries.pop(ident, None)
