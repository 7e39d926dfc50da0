import functools
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models import Max, OuterRef, QuerySet, Subquery
from django.http import Http404

from apps.accounts.models import Account
from apps.common.localcache import STAMP_CHECK_SECONDS, StampedLocalCache
from apps.identity.models import ProcessedMessage
from apps.sites.models import Site

# Public site lookups kept in process memory. Every write to a site (or to its account's
# plan) calls `site_public_forget`: this process sees it at once, the others within
# STAMP_CHECK_SECONDS; the time bound covers a per-process shared cache.
PUBLIC_SITE_SECONDS = 10
SITE_KEY_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_public_sites: StampedLocalCache[Site | None] = StampedLocalCache(
    "site-public", seconds=PUBLIC_SITE_SECONDS, check_every=STAMP_CHECK_SECONDS
)


def sites_row_counts(*, site_ids: list[int]) -> dict[str, int]:
    """How many rows of each kind the sites hold, of every table their deletion empties
    (`site_tables`): one count per table, by the site key every tenant row carries,
    without loading a row."""
    _, owned = site_tables()
    counts = {
        str(model._meta.verbose_name_plural): model.objects.filter(site_id__in=site_ids).count()
        for model in reversed(owned)  # the rows others point at first: profiles, widgets
    }
    return {"sites": len(site_ids), **counts}


@functools.cache
def site_tables() -> tuple[list[type[models.Model]], list[type[models.Model]]]:
    """The models whose `site` outlives the site (set to NULL), and those that go with it,
    in an order that deletes a row before the rows it points at."""
    owned, kept = [], []
    for model in apps.get_models():
        field = next(
            (
                f
                for f in model._meta.concrete_fields
                if f.name == "site" and f.is_relation and f.related_model is Site
            ),
            None,
        )
        if field is None:
            continue
        (kept if field.remote_field.on_delete is models.SET_NULL else owned).append(model)
    ordered: list[type[models.Model]] = []
    pending = sorted(owned, key=lambda m: m._meta.label)
    while pending:
        # The models no other pending model points at can go now.
        free = [
            model
            for model in pending
            if not any(
                f.is_relation and f.related_model is model
                for other in pending
                if other is not model
                for f in other._meta.concrete_fields
            )
        ]
        if not free:
            raise RuntimeError(f"Site tables point at each other: {pending}")
        ordered += free
        pending = [m for m in pending if m not in free]
    return kept, ordered


def sites_awaiting_erasure() -> int:
    """How many deleted sites still hold rows (`apps.sites.services.sites_erase`)."""
    return Site.with_deleted.filter(deleted_at__isnull=False).count()


def site_being_erased(*, account: Account, key: str) -> bool:
    """Whether the account's site with this key is deleted and its rows not yet all
    erased."""
    return Site.with_deleted.filter(account=account, key=key, deleted_at__isnull=False).exists()


def site_key_possible(key: str) -> bool:
    """Whether some site could have this key. Other text (a NUL byte, which PostgreSQL
    refuses in a parameter, or a key too long for the column) is not looked up: no site has
    it, and the caller answers "not found"."""
    return SITE_KEY_RE.fullmatch(key) is not None


def sites_of_account(*, account: Account) -> QuerySet[Site]:
    return Site.objects.filter(account=account).order_by("name", "id")


def sites_of_account_with_activity(*, account: Account) -> QuerySet[Site]:
    """The account's sites, each with `last_received_at` (see `site_install_status`)."""
    latest = (
        ProcessedMessage.objects.filter(site=OuterRef("pk"))
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    return sites_of_account(account=account).annotate(last_received_at=Subquery(latest))


@dataclass(frozen=True)
class InstallStatus:
    """Whether the site's tracking script is sending data."""

    # When the site's last page visit or identify call with a message id arrived: every
    # call of the tracking script has one. Message ids are kept for `window_days`.
    last_received: datetime | None
    window_days: int
    # The site is younger than the window: "nothing yet" rather than "nothing lately".
    site_is_new: bool


def site_install_status(*, site: Site, now: datetime) -> InstallStatus:
    """Read from the (site, created_at) index of the message ids: one index entry."""
    days = settings.COHORT_MESSAGE_RETENTION_DAYS
    last = ProcessedMessage.objects.filter(site=site).aggregate(at=Max("created_at"))["at"]
    return InstallStatus(
        last_received=last,
        window_days=days,
        site_is_new=site.created_at > now - timedelta(days=days),
    )


def site_get_for_account(*, account: Account, key: str) -> Site:
    """The account's site with this key; another account's site is "not found"."""
    site = Site.objects.filter(account=account, key=key).first() if site_key_possible(key) else None
    if site is None:
        raise Http404("No such site.")
    return site


def site_locked_for_change(*, site: Site) -> Site:
    """The site's row, with its account, read again and held FOR NO KEY UPDATE until the
    transaction ends: a change made under it cannot cross a deletion. A site deleted
    since the caller read it is "not found". Call inside a transaction."""
    locked = (
        Site.objects.select_for_update(no_key=True, of=("self",))
        .select_related("account")
        .filter(pk=site.pk)
        .first()
    )
    if locked is None:
        raise Http404("No such site.")
    return locked


def site_get_public(*, key: str) -> Site | None:
    """The site behind a public site key, with its account (for the plan check)."""
    if not site_key_possible(key):
        return None
    return Site.objects.select_related("account").filter(key=key).first()


def site_get_public_cached(*, key: str) -> Site | None:
    """`site_get_public` answered from this process's memory while the site is unchanged.

    For the public endpoints the tracking script calls: the Site is shared between
    requests, so callers must not change it. An unknown key is not kept.
    """
    if not site_key_possible(key):  # no site has it; keep odd text out of cache keys
        return None
    return _public_sites.get(key, lambda: site_get_public(key=key))


def site_public_forget(*, key: str) -> None:
    """Every process looks the site up again (after a change to the site or its plan)."""
    _public_sites.forget(key)


def site_script_url(*, site: Site) -> str:
    return f"{settings.COHORT_PUBLIC_BASE_URL.rstrip('/')}/t/{site.key}.js"


# The queue stub that holds `hj(...)` calls until the script loads (the same line as
# Hotjar's), and a second reference to its queue: a script sharing the stub that loads
# first (Hotjar's) takes the queue and replaces the stub, and Cohort still finds the calls.
# Only a queue stub gets one, never another script's working hj().
INSTALL_STUB = (
    "window.hj=window.hj||function(){(hj.q=hj.q||[]).push(arguments)};\n"
    "if(/\\.q\\s*=/.test(hj))window._cohortq=hj.q=hj.q||[];\n"
)


def site_install_snippet(*, site: Site) -> str:
    """The ready-to-paste install code: the queue stub, then the async script tag."""
    return (
        "<script>\n"
        f"{INSTALL_STUB}"
        "</script>\n"
        f'<script async src="{site_script_url(site=site)}"></script>'
    )
