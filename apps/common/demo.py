"""Idempotent demo data: what `manage.py seed_demo` and `make run` set up."""

from django.db import transaction

from apps.accounts.models import Account, Membership, User
from apps.accounts.services import account_create
from apps.billing.models import PlanChange
from apps.billing.services import plan_change
from apps.sites.models import Site
from apps.sites.services import site_create

DEMO_EMAIL = "demo@cohort.example"
DEMO_PASSWORD = "cohort-demo-2026"  # noqa: S105 - a published demo login, not a secret
DEMO_ACCOUNT = "Radbooks"
DEMO_SITE = "radbooks.com (demo)"


@transaction.atomic
def demo_seed(*, base_url: str) -> dict:
    """Create (or bring back to shape) the demo account, login and site."""
    user = User.objects.filter(email=DEMO_EMAIL).first()
    if user is None:
        user = User.objects.create_user(email=DEMO_EMAIL, password=DEMO_PASSWORD, name="Demo")
    elif not user.check_password(DEMO_PASSWORD):
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])

    membership = (
        Membership.objects.select_related("account")
        .filter(user=user, account__name=DEMO_ACCOUNT, role=Membership.Role.OWNER)
        .first()
    )
    if membership is None:
        account = account_create(name=DEMO_ACCOUNT, owner=user)
    else:
        account = membership.account
    if account.tier != Account.Tier.BUSINESS or account.billing_version != 2:
        plan_change(
            account=account,
            tier=Account.Tier.BUSINESS,
            billing_version=2,
            changed_by=None,
            source=PlanChange.Source.STAFF,
        )

    origin = base_url.rstrip("/")
    site = Site.objects.filter(account=account, name=DEMO_SITE).first()
    if site is None:
        site = site_create(
            account=account, name=DEMO_SITE, allowed_origins=[origin], created_by=user
        )
    elif origin not in site.allowed_origins:
        site.allowed_origins = [*site.allowed_origins, origin]
        site.save(update_fields=["allowed_origins"])
    if not site.user_attributes_enabled:
        site.user_attributes_enabled = True
        site.save(update_fields=["user_attributes_enabled"])

    return {
        "email": DEMO_EMAIL,
        "password": DEMO_PASSWORD,
        "account_slug": account.slug,
        "site_key": site.key,
        "base_url": origin,
        "demo_page": f"{origin}/demo/{site.key}/",
    }
