from dataclasses import dataclass

from django.db.models import QuerySet

from apps.accounts.models import Account
from apps.billing.models import PlanChange
from apps.feedback_targeting.selectors import widgets_using_attributes_count
from apps.sites.models import Site

ELIGIBLE_TIERS = (Account.Tier.BUSINESS, Account.Tier.SCALE)
MIN_BILLING_VERSION = 2


@dataclass(frozen=True)
class FeatureAccess:
    allowed: bool
    code: str = ""
    message: str = ""
    # What the customer can do about it: "upgrade_tier" or "contact_support".
    remedy: str = ""


def user_attributes_access(*, account: Account) -> FeatureAccess:
    """May this account use User Attributes and the Identify API, and if not, why not.

    Both conditions must hold: a Business or Scale tier, and billing version 2 or newer.
    The billing version is checked first because no tier change can fix it.
    """
    if account.billing_version < MIN_BILLING_VERSION:
        return FeatureAccess(
            allowed=False,
            code="plan_not_eligible",
            message=(
                "User Attributes need billing version 2 or newer; this account is on V1. "
                "Contact support to move to a newer billing version."
            ),
            remedy="contact_support",
        )
    if account.tier not in ELIGIBLE_TIERS:
        return FeatureAccess(
            allowed=False,
            code="plan_not_eligible",
            message=(
                f"User Attributes need the Business plan or higher; this account is on "
                f"{Account.Tier(account.tier).label}. Upgrade the plan to use them."
            ),
            remedy="upgrade_tier",
        )
    return FeatureAccess(allowed=True)


def plan_history(*, account: Account, limit: int = 20) -> QuerySet[PlanChange]:
    return PlanChange.objects.filter(account=account)[:limit]


@dataclass(frozen=True)
class FeatureLoss:
    """What a plan change takes away with User Attributes."""

    # The sites whose identify calls are refused from then on.
    sites: list[Site]
    # The running widgets that target attributes, which are switched off.
    widgets: int


def plan_change_losses(*, account: Account, tier: str) -> FeatureLoss | None:
    """What moving the account to `tier` would take away, when it takes User Attributes
    away; None when it does not."""
    target = Account(tier=tier, billing_version=account.billing_version)
    if not user_attributes_access(account=account).allowed:
        return None
    if user_attributes_access(account=target).allowed:
        return None
    return FeatureLoss(
        sites=list(Site.objects.filter(account=account, user_attributes_enabled=True)),
        widgets=widgets_using_attributes_count(account=account),
    )
