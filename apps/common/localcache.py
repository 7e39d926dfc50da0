"""Objects kept as live Python objects in this process's memory, checked against a stamp
in the shared cache on every read.

A read costs one small `cache.get` (the stamp) instead of unpickling the objects or
querying the database. A write calls `forget`, which gives the entry a new random stamp:
every process sees the new stamp on its next read and loads the objects again. The stamp
is random rather than a counter so that a cleared or evicted cache can never bring back a
stamp some process still holds. With a per-process cache (the local-memory default)
other processes cannot see a new stamp, so an entry is also reloaded after `seconds`.
"""

import secrets
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.core.cache import cache
from django.db import transaction

T = TypeVar("T")


@dataclass(frozen=True)
class _Entry:
    stamp: str
    expires: float
    value: Any


class StampedLocalCache(Generic[T]):
    def __init__(self, name: str, *, seconds: float, max_entries: int = 1000):
        self.name = name
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[Hashable, _Entry] = {}
        self._lock = threading.Lock()

    def _stamp_key(self, ident: Hashable) -> str:
        return f"stamp:{self.name}:{ident}"

    def get(self, ident: Hashable, load: Callable[[], T]) -> T:
        """The value for `ident`, loaded again if its stamp changed or it is too old.

        The stamp is read before loading, so a change made while loading leaves a new
        stamp behind and the next read loads again. A value of None is not kept (and
        leaves no stamp behind: asking for unknown idents fills no cache).
        """
        key = self._stamp_key(ident)
        stamp = cache.get(key)
        entry = self._entries.get(ident)
        now = time.monotonic()
        if entry is not None and entry.stamp == stamp and entry.expires > now:
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
            if len(self._entries) >= self.max_entries and ident not in self._entries:
                self._entries.clear()
            self._entries[ident] = _Entry(stamp=stamp, expires=now + self.seconds, value=value)
        return value

    def forget(self, ident: Hashable) -> None:
        """Make every process load `ident` again: now, and once more when the current
        transaction commits (a process that read the old rows in between reloads)."""
        self._renew(ident)
        transaction.on_commit(lambda: self._renew(ident))

    def _renew(self, ident: Hashable) -> None:
        cache.set(self._stamp_key(ident), secrets.token_hex(8), timeout=None)
        with self._lock:
            self._entries.pop(ident, None)
