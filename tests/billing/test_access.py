"""The one rule: User Attributes need Business or Scale, and billing version 2 or newer."""

import pytest

from apps.accounts.models import Account
from apps.billing.selectors import FeatureAccess, user_attributes_access

V1_MESSAGE = (
    "User Attributes need billing version 2 or newer; this account is on V1. "
    "Contact support to move to a newer billing version."
)


def _low_tier_message(label: str) -> str:
    return (
        f"User Attributes need the Business plan or higher; this account is on {label}. "
        "Upgrade the plan to use them."
    )


EXPECTED = {
    ("basic", 1): FeatureAccess(False, "plan_not_eligible", V1_MESSAGE, "contact_support"),
    ("plus", 1): FeatureAccess(False, "plan_not_eligible", V1_MESSAGE, "contact_support"),
    ("business", 1): FeatureAccess(False, "plan_not_eligible", V1_MESSAGE, "contact_support"),
    ("scale", 1): FeatureAccess(False, "plan_not_eligible", V1_MESSAGE, "contact_support"),
    ("basic", 2): FeatureAccess(
        False, "plan_not_eligible", _low_tier_message("Basic"), "upgrade_tier"
    ),
    ("plus", 2): FeatureAccess(
        False, "plan_not_eligible", _low_tier_message("Plus"), "upgrade_tier"
    ),
    ("business", 2): FeatureAccess(True),
    ("scale", 2): FeatureAccess(True),
    ("basic", 3): FeatureAccess(
        False, "plan_not_eligible", _low_tier_message("Basic"), "upgrade_tier"
    ),
    ("plus", 3): FeatureAccess(
        False, "plan_not_eligible", _low_tier_message("Plus"), "upgrade_tier"
    ),
    ("business", 3): FeatureAccess(True),
    ("scale", 3): FeatureAccess(True),
}


def test_the_table_covers_every_tier_and_version():
    every = {(t, v) for t in Account.Tier.values for v in Account.BillingVersion.values}
    assert set(EXPECTED) == every


@pytest.mark.parametrize(("tier", "version"), sorted(EXPECTED), ids=lambda x: str(x))
def test_user_attributes_access(tier, version):
    # an unsaved account is enough: the rule reads only the tier and the version
    account = Account(name="A", slug="a", tier=tier, billing_version=version)

    assert user_attributes_access(account=account) == EXPECTED[(tier, version)]


def test_the_rule_runs_no_queries(django_assert_num_queries, account):
    with django_assert_num_queries(0):
        user_attributes_access(account=account)
