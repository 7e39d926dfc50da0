from django.db import transaction

from apps.accounts.events import account_event_record
from apps.accounts.models import Account, AccountEvent, User
from apps.common.once import Once, made_before, make_once
from apps.common.sql import execute, table
from apps.sites.models import Site
from apps.sites.selectors import site_public_forget, site_tables


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
    (the allowed origins decide which pages may send identify calls)."""
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


@transaction.atomic
def site_delete(*, site: Site, by: User | None = None) -> None:
    """Delete the site and, through the site key on every tenant row, all of its data;
    recorded in the account's trail."""
    key = site.key
    sites_data_delete(site_ids=[site.pk])
    site.delete()
    site_public_forget(key=key)
    account_event_record(
        account=site.account, actor=by, action=AccountEvent.Action.SITE_DELETED, subject=site.name
    )


def sites_data_delete(*, site_ids: list[int]) -> None:
    """Delete every row the sites hold: one statement per tenant table by its site key,
    tables that point at others first. Django's cascade would read every profile and
    visitor into memory and delete their rows by batches of ids (thousands of statements
    for a large site, far past a request's time); records kept beyond the site (privacy
    audits, consents) only lose their link to it. Call inside a transaction."""
    if not site_ids:
        return
    marks = ", ".join(["%s"] * len(site_ids))
    kept, owned = site_tables()
    for model in owned:
        execute(f"DELETE FROM {table(model)} WHERE site_id IN ({marks})", site_ids)
    for model in kept:
        execute(f"UPDATE {table(model)} SET site_id = NULL WHERE site_id IN ({marks})", site_ids)
