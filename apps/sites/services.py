import time

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone
from psycopg.errors import DeadlockDetected, LockNotAvailable

from apps.accounts.events import account_event_record
from apps.accounts.models import Account, AccountEvent, User
from apps.common.once import Once, made_before, make_once
from apps.common.sql import (
    OutOfTime,
    constraints_checked_at_once,
    execute,
    table,
    time_limited,
)
from apps.sites.models import Site
from apps.sites.selectors import site_locked_for_change, site_public_forget, site_tables


@transaction.atomic
def site_create(
    *, account: Account, name: str, allowed_origins: list[str], created_by: User | None
) -> Site:
    site = Site.objects.create(
        account=account, name=name, allowed_origins=allowed_origins, created_by=created_by
    )
    origins = ", ".join(allowed_origins) or "no allowed origins"
    account_event_record(
        account=account,
        actor=created_by,
        action=AccountEvent.Action.SITE_CREATED,
        subject=f"{name} ({origins})",
    )
    return site


def site_create_once(
    *, account: Account, name: str, allowed_origins: list[str], created_by: User, form_id: str
) -> Once[Site]:
    """`site_create`, once per copy of the add-a-site form; an earlier sending's site is
    named by its key."""
    return make_once(
        scope=f"site:{account.pk}:{created_by.pk}",
        form_id=form_id,
        content=(name, allowed_origins),
        make=lambda: site_create(
            account=account, name=name, allowed_origins=allowed_origins, created_by=created_by
        ),
        remember=lambda site: site.key,
    )


def _deletion_scope(account: Account, by: User) -> str:
    return f"site-delete:{account.pk}:{by.pk}"


def site_delete_once(*, site: Site, by: User, form_id: str) -> Once[str]:
    """`site_delete`, once per copy of the confirmation: a copy sent again (a double
    click) is told of the first sending's deletion (`made_before` answers it once the
    site is gone); the site's name is what a sending did."""

    def delete() -> str:
        site_delete(site=site, by=by)
        return site.name

    scope = _deletion_scope(site.account, by)
    return make_once(scope=scope, form_id=form_id, content=site.key, make=delete, remember=str)


def site_deletion_before(*, account: Account, key: str, by: User, form_id: str) -> Once[None]:
    """What an earlier sending of this copy of a site's deletion did (see `made_before`)."""
    return made_before(scope=_deletion_scope(account, by), form_id=form_id, content=key)


@transaction.atomic
def site_update(
    *, site: Site, name: str, allowed_origins: list[str], by: User | None = None
) -> Site:
    """Rename a site or change where its calls may come from; the change is recorded
    (the allowed origins decide which pages may send identify calls). A site deleted
    since it was read is "not found", and nothing is recorded."""
    site_locked_for_change(site=site)
    changes = []
    if name != site.name:
        changes.append(f"name {site.name} → {name}")
    if allowed_origins != site.allowed_origins:
        before = ", ".join(site.allowed_origins) or "none"
        changes.append(f"origins {before} → {', '.join(allowed_origins) or 'none'}")
    site.name = name
    site.allowed_origins = allowed_origins
    site.save(update_fields=["name", "allowed_origins"])
    site_public_forget(key=site.key)
    if changes:
        account_event_record(
            account=site.account,
            actor=by,
            action=AccountEvent.Action.SITE_CHANGED,
            subject=f"{name}: {'; '.join(changes)}",
        )
    return site


def site_delete(*, site: Site, by: User | None = None) -> bool:
    """Delete the site (`site_retire`), then erase its rows for up to
    `COHORT_SITE_ERASE_SECONDS`, so that a request deleting a large site answers in
    time: whether every row is gone (what is left, `manage.py purge_expired` erases).
    Not inside a transaction: a caller that has one retires, and erases once it commits
    (the admin)."""
    site_retire(site=site, by=by)
    return sites_erase(site_ids=[site.pk], seconds=settings.COHORT_SITE_ERASE_SECONDS) == 1


def site_retire(*, site: Site, by: User | None = None) -> None:
    """Take the site away at once: it is gone from every page, API, count and list, its
    public key answers nothing, and the deletion is recorded in the account's trail. Its
    rows wait for `sites_erase`."""
    with transaction.atomic():
        if not sites_retire(site_ids=[site.pk]):
            return  # another deletion took it on
        account_event_record(
            account=site.account,
            actor=by,
            action=AccountEvent.Action.SITE_DELETED,
            subject=site.name,
        )
    site_public_forget(key=site.key)


def sites_retire(*, site_ids: list[int]) -> list[int]:
    """Mark the sites deleted, which takes them out of every query but the erasure's, and
    unlink the records kept beyond them (privacy audits, consents): the ids of those that
    were not deleted already. Call inside a transaction."""
    # Not a key lock: a call writing a row for the site checks its key (FOR KEY SHARE) at
    # its commit, and must not wait for a deletion that waits for it.
    retired = list(
        Site.objects.filter(pk__in=site_ids)
        .select_for_update(no_key=True)
        .values_list("pk", flat=True)
    )
    if not retired:
        return []
    Site.objects.filter(pk__in=retired).update(deleted_at=timezone.now())
    marks = ", ".join(["%s"] * len(retired))
    kept, _ = site_tables()
    for model in kept:
        execute(f"UPDATE {table(model)} SET site_id = NULL WHERE site_id IN ({marks})", retired)
    return retired


def sites_erase(*, site_ids: list[int] | None = None, seconds: float | None = None) -> int:
    """Erase the rows of deleted sites (those of `site_ids`, or all), the oldest deletion
    first, and a site's own row after its last: table by table, the rows that point at
    others first, each table in a transaction of its own, so that a deletion stopped
    half-way (out of time, a worker killed) goes on from there the next time. For up to
    `seconds` if given (a table's statement still running then is cancelled, on
    PostgreSQL): how many of the sites are gone. A site that calls kept writing to
    through every attempt is left for the next time; the others are erased."""
    deadline = None if seconds is None else time.monotonic() + seconds
    deleted = Site.with_deleted.filter(deleted_at__isnull=False)
    if site_ids is not None:
        deleted = deleted.filter(pk__in=site_ids)
    erased = 0
    for site_id in deleted.order_by("deleted_at", "pk").values_list("pk", flat=True):
        try:
            erased += _site_erase(site_id, deadline)
        except OutOfTime:
            break
    return erased


# A call that found the site just before its deletion may still write a row that points
# at one erased meanwhile, or hold a row the erasure waits for while it waits for the
# site's: the erasure then starts over (it has little left to do).
ERASE_ATTEMPTS = 3


def _site_erase(site_id: int, deadline: float | None) -> bool:
    """Whether the site is gone; `OutOfTime` when the deadline came first."""
    kept, owned = site_tables()
    for _ in range(ERASE_ATTEMPTS):
        try:
            for model in owned:
                with (
                    transaction.atomic(),
                    time_limited(deadline),
                    constraints_checked_at_once(),
                ):
                    # One statement per table: batches that each find their rows by the
                    # site's index took three times as long in all (1M profiles: 3
                    # minutes against one).
                    execute(f"DELETE FROM {table(model)} WHERE site_id = %s", [site_id])
            with transaction.atomic(), time_limited(deadline):
                # Locked first: a row written from now on would have to wait for the site's.
                if not Site.with_deleted.select_for_update().filter(pk=site_id).exists():
                    return True  # another erasure finished it
                # What calls wrote while the tables were erased, a lookup's audit record
                # among them.
                for model in owned:
                    execute(f"DELETE FROM {table(model)} WHERE site_id = %s", [site_id])
                for model in kept:
                    unlink = f"UPDATE {table(model)} SET site_id = NULL WHERE site_id = %s"
                    execute(unlink, [site_id])
                execute(f"DELETE FROM {table(Site)} WHERE id = %s", [site_id])
            return True
        except IntegrityError:
            continue
        except OperationalError as error:
            if not isinstance(error.__cause__, (DeadlockDetected, LockNotAvailable)):
                raise
    return False
