"""Writes of attribute values and of the per-site attribute catalogue.

Every write here runs inside the caller's transaction, after the caller has locked the
profile row, so calls for one profile are serialised and "latest wins" holds per key.
Multi-row writes are single `INSERT … ON CONFLICT` statements ordered by key, and a
transaction writes the catalogue once (the counts a merge lowers travel with the call's
own keys), so two transactions never lock catalogue rows in opposite orders.
"""

import functools
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from apps.accounts.events import account_event_record
from apps.accounts.models import AccountEvent, User
from apps.common.sql import (
    db_date,
    db_datetime,
    execute,
    fetch_all,
    fetch_all_together,
    fetch_one,
    quote,
    set_from_excluded,
    table,
    upsert_rows,
)
from apps.sites.models import Site
from apps.user_attributes.models import (
    TYPE_BITS,
    AttributeKey,
    AttributeRejection,
    AttributeValue,
)
from apps.user_attributes.selectors import REJECTION_DAYS
from apps.user_attributes.validation import (
    MAX_KEYS_PER_SITE,
    Reason,
    TypedValue,
    emails_masked,
)

# The catalogue's last-seen time is refreshed at most this often per key, so that a busy
# site does not rewrite the same catalogue rows on every call.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
MAX_REJECTION_KEY_LENGTH = 50
MAX_REJECTED_KEYS_PER_DAY = 1_000
PAST_LIMIT_KEY = "(attributes past the 100th)"
OTHER_KEYS = "(other keys)"
# pg_advisory_xact_lock's first key for "keys are being added to this site's catalogue"
# (the second is the site); the project's other one is
# identity.services.PEOPLE_DELETION_LOCK.
NEW_KEYS_LOCK = 0x6B657973

_VALUE_COLUMNS = (
    "site_id",
    "profile_id",
    "key",
    "value_type",
    "number_value",
    "string_value",
    "date_value",
    "boolean_value",
    "updated_at",
)


@dataclass(frozen=True)
class _CatalogueDelta:
    """A change to one catalogue row. A count-only change (`seen` false: a merge folding
    two profiles' values into one) keeps the row's type and last-seen time."""

    key: str
    value_type: str
    new_profiles: int
    anonymous: int
    seen: bool = True


def _value_row(site_id: int, profile_id: int, key: str, typed: TypedValue, at: datetime) -> tuple:
    return (
        site_id,
        profile_id,
        key,
        typed.value_type,
        typed.number_value,
        typed.string_value,
        db_datetime(typed.date_value),
        typed.boolean_value,
        db_datetime(at),
    )


def attributes_store(
    *,
    site: Site,
    profile_id: int,
    values: dict[str, TypedValue],
    identified: bool,
    now: datetime,
    merged_keys: dict[str, str] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """Store a call's accepted values on a locked profile: each key sent replaces its
    stored value, keys not sent keep theirs. Returns (stored keys, extra rejections).

    `merged_keys` (key → stored type) are the keys that a merge earlier in the same
    transaction found on both profiles; each now counts one profile fewer."""
    keys = sorted(values)
    rejected: dict[str, str] = {}
    deltas: dict[str, _CatalogueDelta] = {}
    catalogue = (
        _catalogue_for_call(site=site, profile_id=profile_id, keys=keys, now=now) if keys else {}
    )
    if any(key not in catalogue for key in keys):
        existing = _catalogue_keys(site=site, locked=False)
        if len(existing) < MAX_KEYS_PER_SITE:
            # Room for new keys: count again holding the lock. A full site (whose script
            # may keep sending new keys) refuses them without making its calls take turns.
            existing = _catalogue_keys(site=site, locked=True)
        room = MAX_KEYS_PER_SITE - len(existing)
        # The last places go to the keys sent first, as the per-call limit does; the
        # writes keep their sorted order (rows locked in one order by every call).
        for key in [key for key in values if key not in existing][max(room, 0) :]:
            rejected[key] = Reason.SITE_KEY_LIMIT_REACHED
        keys = [key for key in keys if key not in rejected]
    if keys:
        upsert_rows(
            AttributeValue._meta.db_table,
            _VALUE_COLUMNS,
            ("site_id", "profile_id", "key"),
            [_value_row(site.id, profile_id, key, values[key], now) for key in keys],
            set_from_excluded(_VALUE_COLUMNS[3:]),
        )
    for key in keys:
        entry = catalogue.get(key)
        value_type = values[key].value_type
        new_profiles = 0 if entry is not None and entry.profile_has_key else 1
        changed = entry is None or entry.stale or entry.value_type != value_type
        changed = changed or not entry.types_mask & TYPE_BITS[value_type]
        if new_profiles or changed or not identified:
            deltas[key] = _CatalogueDelta(key, value_type, new_profiles, 0 if identified else 1)
    for key, value_type in (merged_keys or {}).items():
        delta = deltas.get(key)
        deltas[key] = (
            replace(delta, new_profiles=delta.new_profiles - 1)
            if delta is not None
            else _CatalogueDelta(key, value_type, -1, 0, seen=False)
        )
    catalogue_apply(site=site, deltas=list(deltas.values()), now=now)
    return keys, rejected


def _catalogue_keys(*, site: Site, locked: bool) -> set[str]:
    """Every key of the site's catalogue; `locked`: read once this transaction holds the
    site's lock for adding keys (until commit). Without it, two calls bringing new keys to
    a site with one free place would each count the other's key out and pass the limit
    together. Only calls that bring a key the catalogue lacks, to a site with room, take
    it; SQLite's writers take turns anyway. A site found full without the lock refuses
    the call's new keys: a place an owner frees meanwhile goes to a later call."""
    keys_sql = f"SELECT {quote('key')} FROM {table(AttributeKey)} WHERE site_id = %s"
    statements = [(keys_sql, [site.id])]
    if locked and connection.vendor == "postgresql":
        # The read runs after the lock is granted, so it sees the keys of the call before.
        lock = ("SELECT pg_advisory_xact_lock(%s, %s)", [NEW_KEYS_LOCK, site.id % 2**31])
        statements.insert(0, lock)
    return {key for (key,) in fetch_all_together(statements)[-1]}


@dataclass(frozen=True)
class _CatalogueEntry:
    value_type: str
    types_mask: int
    stale: bool
    profile_has_key: bool


def _catalogue_for_call(
    *, site: Site, profile_id: int, keys: list[str], now: datetime
) -> dict[str, _CatalogueEntry]:
    """The catalogue rows of a call's keys, each with whether its last-seen time is due for
    a refresh and whether the profile holds a value under it already: one statement.
    (A key with a stored value has a catalogue row: `attribute_key_delete` removes the
    values on both sides of the row. A call that read the row here just before a removal
    and stores the key just after it may leave a value without its row, which the next
    call sending the key gives a row again.)"""
    keys_sql = ", ".join(["%s"] * len(keys))
    rows = fetch_all(
        f"SELECT k.{quote('key')}, k.value_type, k.types_mask, k.last_seen_at <= %s, "
        f"v.id IS NOT NULL FROM {table(AttributeKey)} k "
        f"LEFT JOIN {table(AttributeValue)} v ON v.site_id = k.site_id "
        f"AND v.profile_id = %s AND v.{quote('key')} = k.{quote('key')} "
        f"WHERE k.site_id = %s AND k.{quote('key')} IN ({keys_sql})",
        [db_datetime(now - LAST_SEEN_RESOLUTION), profile_id, site.id, *keys],
    )
    return {
        key: _CatalogueEntry(value_type, types_mask, bool(stale), bool(has_key))
        for key, value_type, types_mask, stale, has_key in rows
    }


def catalogue_apply(*, site: Site, deltas: list[_CatalogueDelta], now: datetime) -> None:
    """Add profile counts (never below zero) and seen types to catalogue rows, creating
    missing keys: one statement in key order, the only catalogue write of a call."""
    name = AttributeKey._meta.db_table
    upsert_rows(
        name,
        (
            "site_id",
            "key",
            "value_type",
            "types_mask",
            "profile_count",
            "anonymous_count",
            "first_seen_at",
            "last_seen_at",
        ),
        ("site_id", "key"),
        [
            (
                site.id,
                d.key,
                d.value_type,
                TYPE_BITS[d.value_type] if d.seen else 0,
                d.new_profiles,
                d.anonymous,
                db_datetime(now),
                db_datetime(now),
            )
            for d in sorted(deltas, key=lambda d: d.key)
        ],
        _catalogue_updates(quote(name)),
    )


@functools.cache
def _catalogue_updates(t: str) -> str:
    # A count-only row carries an empty type mask.
    count_only = "excluded.types_mask = 0"
    total = f"{t}.profile_count + excluded.profile_count"
    return (
        f"value_type = CASE WHEN {count_only} THEN {t}.value_type ELSE excluded.value_type END, "
        f"types_mask = {t}.types_mask | excluded.types_mask, "
        f"profile_count = CASE WHEN {total} < 0 THEN 0 ELSE {total} END, "
        f"anonymous_count = {t}.anonymous_count + excluded.anonymous_count, "
        f"last_seen_at = CASE WHEN {count_only} THEN {t}.last_seen_at "
        f"ELSE excluded.last_seen_at END"
    )


def catalogue_forget_profiles(
    *, site: Site, removed: dict[str, tuple[str, int]], now: datetime
) -> None:
    """Lower profile counts after values were removed from profiles (a deletion):
    `removed` maps each key to (its stored type, how many profiles lost it). One
    count-only write in key order, as `catalogue_apply` writes for a call."""
    catalogue_apply(
        site=site,
        deltas=[
            _CatalogueDelta(key, value_type, -count, 0, seen=False)
            for key, (value_type, count) in removed.items()
        ],
        now=now,
    )


def attributes_merge(
    *, site: Site, source_profile_id: int, target_profile_id: int
) -> dict[str, str]:
    """Move an anonymous profile's values onto the profile it joins. Per key the most
    recently updated value wins and the loser is deleted. Returns the keys both profiles
    held (key → type), which now count one profile fewer: the caller passes them on to
    `attributes_store`, whose one catalogue write lowers their counts."""
    t = table(AttributeValue)
    key = quote("key")
    shared = fetch_all(
        f"SELECT t.{key}, t.value_type FROM {t} t JOIN {t} s ON s.site_id = t.site_id "
        f"AND s.profile_id = %s AND s.{key} = t.{key} WHERE t.site_id = %s AND t.profile_id = %s",
        [source_profile_id, site.id, target_profile_id],
    )
    columns = ", ".join(quote(c) for c in _VALUE_COLUMNS)
    values = ", ".join(f"s.{quote(c)}" for c in _VALUE_COLUMNS[2:])
    execute(
        f"INSERT INTO {t} ({columns}) SELECT s.site_id, %s, {values} FROM {t} s "
        f"WHERE s.site_id = %s AND s.profile_id = %s ORDER BY s.{key} "
        f"ON CONFLICT (site_id, profile_id, {key}) DO UPDATE SET "
        f"{set_from_excluded(_VALUE_COLUMNS[3:])} "
        f"WHERE excluded.updated_at > {t}.updated_at",
        [target_profile_id, site.id, source_profile_id],
    )
    execute(
        f"DELETE FROM {t} WHERE site_id = %s AND profile_id = %s",
        [site.id, source_profile_id],
    )
    return dict(shared)


def catalogue_recount(*, site: Site) -> int:
    """Recompute every key's profile count from the stored values (a repair tool)."""
    counts = dict(
        AttributeValue.objects.filter(site=site)
        .values("key")
        .annotate(n=Count("id"))
        .values_list("key", "n")
    )
    changed = 0
    for entry in AttributeKey.objects.filter(site=site).order_by("key"):
        if entry.profile_count != counts.get(entry.key, 0):
            entry.profile_count = counts.get(entry.key, 0)
            entry.save(update_fields=["profile_count"])
            changed += 1
    return changed


@transaction.atomic
def attribute_key_delete(*, site: Site, key: str, by: User | None = None) -> int:
    """Remove a key from the site's catalogue with every value stored under it (the way
    back from keys a site no longer wants, or that someone sent to fill its 100 places).
    Returns how many values went. A later call that sends the key adds it again.

    The values first, then the catalogue row: the order in which identify calls and a
    person's deletion take the same rows, so none of them waits for another in a cycle.
    Then the values once more: a call that stored the key for a new profile and wrote
    its row between the two committed a value the first pass could not see."""
    values = f"DELETE FROM {table(AttributeValue)} WHERE site_id = %s AND {quote('key')} = %s"
    deleted = execute(values, [site.id, key])
    AttributeKey.objects.filter(site=site, key=key).delete()
    deleted += execute(values, [site.id, key])
    account_event_record(
        account=site.account,
        actor=by,
        action=AccountEvent.Action.KEY_DELETED,
        subject=f"{key} on {site.name}: {deleted} value{'' if deleted == 1 else 's'}",
    )
    return deleted


def rejections_record(*, site: Site, rejected: dict[str, str], now: datetime) -> None:
    """Count rejected attributes per day, key and reason for the settings page.

    - A key is kept without the email addresses in it: a site that builds keys from its
      visitors' addresses must not leave them on that page, which no deletion of a person
      reaches.
    - The keys past a call's 100th attribute count under one row (PAST_LIMIT_KEY), and a
      site lists at most MAX_REJECTED_KEYS_PER_DAY keys a day, the rest under OTHER_KEYS:
      one call may carry thousands of keys, and each row would be one more for the page.
    """
    if not rejected:
        return
    counts: Counter = Counter()
    for key, reason in rejected.items():
        kept = (
            PAST_LIMIT_KEY
            if reason == Reason.TOO_MANY_ATTRIBUTES
            else emails_masked(key, keep=MAX_REJECTION_KEY_LENGTH)
        )
        counts[kept, reason] += 1
    name = AttributeRejection._meta.db_table
    listed = fetch_one(
        f"SELECT COUNT(*) FROM {table(AttributeRejection)} WHERE site_id = %s AND day = %s",
        [site.id, db_date(now.date())],
    )[0]
    if listed + len(counts) > MAX_REJECTED_KEYS_PER_DAY:
        folded: Counter = Counter()
        for (_, reason), n in counts.items():
            folded[OTHER_KEYS, reason] += n
        counts = folded
    rows = sorted((site.id, now.date(), key, r, n) for (key, r), n in counts.items())
    upsert_rows(
        name,
        ("site_id", "day", "key", "reason", "count"),
        ("site_id", "day", "key", "reason"),
        [(s, db_date(d), k, r, c) for s, d, k, r, c in rows],
        f"{quote('count')} = {quote(name)}.{quote('count')} + excluded.{quote('count')}",
    )


def rejections_purge(*, now: datetime | None = None) -> int:
    """Forget the rejected-attribute counts older than the settings page shows
    (REJECTION_DAYS): their keys may hold what a site should not have sent, and no
    deletion of a person reaches them. The number of rows forgotten."""
    today = (now or timezone.now()).date()
    cutoff = today - timedelta(days=REJECTION_DAYS - 1)
    return AttributeRejection.objects.filter(day__lt=cutoff).delete()[0]
