from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404

from apps.accounts.models import Account
from apps.sites.models import Site


def sites_of_account(*, account: Account) -> QuerySet[Site]:
    return Site.objects.filter(account=account).order_by("name", "id")


def site_get_for_account(*, account: Account, key: str) -> Site:
    """The account's site with this key; another account's site is "not found"."""
    site = Site.objects.filter(account=account, key=key).first()
    if site is None:
        raise Http404("No such site.")
    return site


def site_get_public(*, key: str) -> Site | None:
    """The site behind a public site key, with its account (for the plan check)."""
    return Site.objects.select_related("account").filter(key=key).first()


def site_script_url(*, site: Site) -> str:
    return f"{settings.COHORT_PUBLIC_BASE_URL.rstrip('/')}/t/{site.key}.js"


def site_install_snippet(*, site: Site) -> str:
    """The ready-to-paste install code: the queue stub, then the async script tag."""
    return (
        "<script>\n"
        "window.hj=window.hj||function(){(hj.q=hj.q||[]).push(arguments)};\n"
        "</script>\n"
        f'<script async src="{site_script_url(site=site)}"></script>'
    )
