"""Objects kept in process memory, valid while their stamp in the shared cache stands."""

import pytest
from django.core.cache import cache

from apps.common import localcache
from apps.common.localcache import StampedLocalCache


class Loader:
    """Counts loads and answers the current value."""

    def __init__(self, value):
        self.value = value
        self.loads = 0

    def __call__(self):
        self.loads += 1
        return self.value


@pytest.fixture
def kept(db):
    return StampedLocalCache("test-kept", seconds=30)


def test_a_value_is_loaded_once_and_then_served_from_memory(kept):
    load = Loader(["a"])

    first = kept.get(1, load)
    load.value = ["b"]
    again = kept.get(1, load)

    assert first == again == ["a"]
    assert again is first  # the same object, not a copy
    assert load.loads == 1


def test_forget_makes_the_next_read_load_again(kept):
    load = Loader(["a"])
    kept.get(1, load)
    load.value = ["b"]

    kept.forget(1)

    assert kept.get(1, load) == ["b"]
    assert load.loads == 2


def test_a_new_stamp_from_another_process_is_seen(kept):
    load = Loader(["a"])
    kept.get(1, load)
    load.value = ["b"]

    # Another process renewed the stamp in the shared cache; this process's memory is
    # untouched.
    cache.set("stamp:test-kept:1", "from-elsewhere", timeout=None)

    assert kept.get(1, load) == ["b"]


def test_a_cleared_cache_never_brings_back_an_old_stamp(kept):
    load = Loader(["a"])
    kept.get(1, load)
    load.value = ["b"]

    cache.clear()

    assert kept.get(1, load) == ["b"]
    assert load.loads == 2


def test_an_entry_is_loaded_again_after_its_time(kept, monkeypatch):
    load = Loader(["a"])
    now = localcache.time.monotonic()
    kept.get(1, load)
    load.value = ["b"]

    monkeypatch.setattr(localcache.time, "monotonic", lambda: now + 29)
    assert kept.get(1, load) == ["a"]
    monkeypatch.setattr(localcache.time, "monotonic", lambda: now + 31)
    assert kept.get(1, load) == ["b"]


def test_none_is_not_kept_and_leaves_no_stamp(kept):
    load = Loader(None)

    assert kept.get("unknown", load) is None
    assert kept.get("unknown", load) is None

    assert load.loads == 2
    assert cache.get("stamp:test-kept:unknown") is None


def test_entries_are_kept_apart(kept):
    kept.get(1, Loader("one"))
    kept.get(2, Loader("two"))

    kept.forget(1)

    assert kept.get(1, Loader("new one")) == "new one"
    assert kept.get(2, Loader("new two")) == "two"


def test_forget_inside_a_transaction_renews_the_stamp_again_at_commit(
    kept, django_capture_on_commit_callbacks
):
    """A process that read the old rows between the change and its commit must not keep
    them: the stamp it saw is replaced once more when the change commits."""
    kept.get(1, Loader("old"))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        kept.forget(1)
        during = cache.get("stamp:test-kept:1")
        kept.get(1, Loader("old, read before the commit"))

    for callback in callbacks:
        callback()

    assert len(callbacks) == 1
    assert cache.get("stamp:test-kept:1") not in (None, during)
    assert kept.get(1, Loader("committed")) == "committed"


@pytest.fixture
def checked(db):
    return StampedLocalCache("test-checked", seconds=30, check_every=1.0)


def test_a_busy_process_reads_the_stamp_at_most_once_per_interval(checked, monkeypatch):
    load = Loader(["a"])
    now = localcache.time.monotonic()
    monkeypatch.setattr(localcache.time, "monotonic", lambda: now)
    checked.get(1, load)
    load.value = ["b"]
    cache.set("stamp:test-checked:1", "from-elsewhere", timeout=None)
    reads = []
    original = localcache.cache.get
    monkeypatch.setattr(
        localcache.cache, "get", lambda *a, **k: reads.append(a) or original(*a, **k)
    )

    monkeypatch.setattr(localcache.time, "monotonic", lambda: now + 0.9)
    within = checked.get(1, load)
    monkeypatch.setattr(localcache.time, "monotonic", lambda: now + 1.1)
    after = checked.get(1, load)

    # Another process's change is seen within the interval, with one stamp read.
    assert (within, after) == (["a"], ["b"])
    assert len(reads) == 1


def test_a_change_in_this_process_is_seen_at_once_inside_the_interval(checked):
    load = Loader(["a"])
    checked.get(1, load)
    load.value = ["b"]

    checked.forget(1)

    assert checked.get(1, load) == ["b"]


def test_a_forget_while_a_read_loads_is_not_undone_by_that_read(checked):
    """A read that loaded the old rows before a change in this process finished must not
    keep them, or the old value would be served without a stamp check for a while."""

    def load_then_change_happens():
        value = ["old"]
        checked.forget(1)  # another thread's change lands while this load runs
        return value

    assert checked.get(1, load_then_change_happens) == ["old"]
    assert checked.get(1, Loader(["new"])) == ["new"]
