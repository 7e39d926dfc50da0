from django.db import transaction

from apps.accounts.models import Account, User
from apps.sites.models import Site
from apps.sites.selectors import site_public_forget


def site_create(
    *, account: Account, name: str, allowed_origins: list[str], created_by: User | None
) -> Site:
    return Site.objects.create(
        account=account, name=name, allowed_origins=allowed_origins, created_by=created_by
    )


def site_update(*, site: Site, name: str, allowed_origins: list[str]) -> Site:
    site.name = name
    site.allowed_origins = allowed_origins
    site.save(update_fields=["name", "allowed_origins"])
    site_public_forget(key=site.key)
    return site


@transaction.atomic
def site_delete(*, site: Site) -> None:
    """Delete the site and, through the site key on every tenant row, all of its data."""
    key = site.key
    site.delete()
    site_public_forget(key=key)
