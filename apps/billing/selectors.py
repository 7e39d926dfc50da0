from dataclasses import dataclass

from django.db.models import QuerySet

from apps.accounts.models import Account
from apps.billing.models import PlanChange

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
