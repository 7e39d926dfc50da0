"""Idempotent demo data: what `manage.py seed_demo` and `make run` set up."""

import hashlib
import hmac

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Account, ApiToken, Membership, User
from apps.accounts.selectors import token_hash
from apps.accounts.services import TOKEN_PREFIX, account_create, api_token_create
from apps.billing.models import PlanChange
from apps.billing.services import plan_change
from apps.consent.selectors import consent_statements
from apps.consent.services import user_attributes_enable
from apps.feedback_targeting.models import Widget
from apps.feedback_targeting.services import QuestionSpec, widget_activate, widget_save
from apps.sites.models import Site
from apps.sites.services import site_create, site_update

DEMO_EMAIL = "demo@cohort.example"
DEMO_PASSWORD = "cohort-demo-2026"  # noqa: S105 - a published demo login, not a secret
DEMO_ACCOUNT = "Radbooks"
DEMO_SITE = "radbooks.com (demo)"


DEMO_POLL = "Paying customers: how are we doing?"
DEMO_POLL_TARGETING = {
    "match": "all",
    "conditions": [
        {"type": "number", "key": "total_spend", "op": "gt", "value": 0},
        {"type": "date", "key": "first_purchase", "op": "more_than_days_ago", "value": 10},
    ],
}


def _demo_poll(*, site: Site, user: User) -> Widget:
    """The seed's example: a poll for paying customers who bought more than 10 days ago."""
    poll = Widget.objects.filter(site=site, name=DEMO_POLL).first()
    if poll is None:
        poll = widget_save(
            site=site,
            kind=Widget.Kind.POLL,
            name=DEMO_POLL,
            targeting=DEMO_POLL_TARGETING,
            questions=[
                QuestionSpec(kind="rating", text="How happy are you with Radbooks?"),
                QuestionSpec(
                    kind="single",
                    text="What should we improve first?",
                    choices=("Delivery speed", "Book selection", "Prices", "The website"),
                ),
                QuestionSpec(kind="text", text="Anything else?", required=False),
            ],
            thank_you_message="Thank you! Your answer helps us choose what to fix first.",
            user=user,
        )
    if poll.status != Widget.Status.ACTIVE:
        widget_activate(widget=poll)
    return poll


def demo_api_token() -> str:
    """The demo's API token: stable for one SECRET_KEY, so seeding again prints the same one."""
    digest = hmac.new(settings.SECRET_KEY.encode(), b"cohort-demo-api-token", hashlib.sha256)
    return f"{TOKEN_PREFIX}demo_{digest.hexdigest()[:32]}"


@transaction.atomic
def demo_seed(*, base_url: str | None) -> dict:
    """Create (or bring back to shape) the demo account, login and site. Without a
    `base_url`, where `make run` last served the demo site (its newest loopback origin),
    else COHORT_PUBLIC_BASE_URL: printing the facts again names the port the app runs on
    and adds no origin."""
    user = User.objects.filter(email=DEMO_EMAIL).first()
    if user is None:
        user = User.objects.create_user(email=DEMO_EMAIL, password=DEMO_PASSWORD, name="Demo")
    elif not user.check_password(DEMO_PASSWORD):
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    if user.email_confirmed_at is None:  # the demo owner invites and confirms the DPA
        user.email_confirmed_at = timezone.now()
        user.save(update_fields=["email_confirmed_at"])

    # The demo account is the one its token belongs to (it may have been renamed), else
    # the one of that name.
    token = demo_api_token()
    owned = Membership.objects.select_related("account").filter(
        user=user, role=Membership.Role.OWNER
    )
    membership = (
        owned.filter(account__api_tokens__token_hash=token_hash(token)).first()
        or owned.filter(account__name=DEMO_ACCOUNT).first()
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

    site = Site.objects.filter(account=account, name=DEMO_SITE).first()
    served_now = base_url is not None
    if base_url is None:
        local = [
            origin
            for origin in (site.allowed_origins if site is not None else [])
            if origin.startswith(("http://127.0.0.1:", "http://localhost:"))
        ]
        base_url = local[-1] if local else settings.COHORT_PUBLIC_BASE_URL
    origin = base_url.rstrip("/")
    if site is None:
        site = site_create(
            account=account, name=DEMO_SITE, allowed_origins=[origin], created_by=user
        )
    elif served_now and site.allowed_origins[-1:] != [origin]:
        # The newest origin last: run again without a base URL, seed_demo names it.
        others = [kept for kept in site.allowed_origins if kept != origin]
        site_update(site=site, name=site.name, allowed_origins=[*others, origin])
    if not site.user_attributes_enabled:
        user_attributes_enable(
            site=site,
            user=user,
            confirmed=set(consent_statements(account=account)),
            client_ip=None,
            user_agent="manage.py seed_demo",
        )

    poll = _demo_poll(site=site, user=user)

    existing = ApiToken.objects.filter(token_hash=token_hash(token)).first()
    if existing is not None and (existing.revoked_at is not None or existing.account != account):
        # Revoked (to try a 401, say), or held by an account that is no longer the demo
        # one: the printed token must work for the printed site. A revocation stays in
        # the account's audit trail; the row gives way to a new token.
        existing.delete()
        existing = None
    if existing is None:
        api_token_create(account=account, user=user, name="Demo token", raw=token)

    return {
        "email": DEMO_EMAIL,
        "password": DEMO_PASSWORD,
        "account_slug": account.slug,
        "site_key": site.key,
        "api_token": token,
        "base_url": origin,
        "demo_page": f"{origin}/demo/{site.key}/",
        "poll_id": poll.pk,
    }
