"""The plan service: every change recorded, the billing version moved only by staff."""

import pytest

from apps.accounts.models import Account
from apps.billing.models import PlanChange
from apps.billing.services import plan_change
from apps.common.errors import ApplicationError


def _plan(account: Account) -> tuple[str, int]:
    account.refresh_from_db()
    return account.tier, account.billing_version


def test_owner_changes_the_tier(account, owner, other_account):
    change = plan_change(account=account, tier="scale", changed_by=owner)

    assert _plan(account) == ("scale", 2)
    assert change == PlanChange.objects.get(account=account)
    assert (change.source, change.changed_by) == ("owner", owner)
    assert (change.from_tier, change.to_tier) == ("business", "scale")
    assert (change.from_billing_version, change.to_billing_version) == (2, 2)
    assert _plan(other_account) == ("business", 2)
    assert not PlanChange.objects.filter(account=other_account).exists()


def test_no_change_records_nothing(account, owner):
    assert (
        plan_change(account=account, tier="business", billing_version=2, changed_by=owner) is None
    )
    assert PlanChange.objects.count() == 0


@pytest.mark.parametrize("version", [1, 3])
def test_owner_cannot_change_the_billing_version(account, owner, version):
    with pytest.raises(ApplicationError) as error:
        plan_change(account=account, tier="scale", billing_version=version, changed_by=owner)

    assert (error.value.code, error.value.status_code) == ("billing_version_locked", 403)
    assert error.value.message == (
        "Only Cohort support can change the billing version. Contact support."
    )
    assert _plan(account) == ("business", 2)
    assert PlanChange.objects.count() == 0


def test_staff_change_the_billing_version(account, staff):
    change = plan_change(
        account=account,
        tier="business",
        billing_version=3,
        changed_by=staff,
        source=PlanChange.Source.STAFF,
    )

    assert _plan(account) == ("business", 3)
    assert (change.source, change.from_billing_version, change.to_billing_version) == (
        "staff",
        2,
        3,
    )


@pytest.mark.parametrize(
    ("tier", "version", "code"),
    [
        ("gold", None, "invalid_tier"),
        ("", None, "invalid_tier"),
        ("scale", 4, "invalid_billing_version"),
    ],
)
def test_unknown_values_are_refused(account, staff, tier, version, code):
    with pytest.raises(ApplicationError) as error:
        plan_change(
            account=account,
            tier=tier,
            billing_version=version,
            changed_by=staff,
            source=PlanChange.Source.STAFF,
        )

    assert error.value.code == code
    assert _plan(account) == ("business", 2)
    assert PlanChange.objects.count() == 0


def test_the_change_starts_from_the_stored_plan_not_a_stale_copy(account, owner):
    # given a copy of the account loaded before someone else changed the plan
    stale = Account.objects.get(pk=account.pk)
    plan_change(account=account, tier="plus", changed_by=owner)

    # when the stale copy is used for the next change
    change = plan_change(account=stale, tier="scale", changed_by=owner)

    # then the history is continuous
    assert (change.from_tier, change.to_tier) == ("plus", "scale")
    assert list(PlanChange.objects.order_by("id").values_list("from_tier", "to_tier")) == [
        ("business", "plus"),
        ("plus", "scale"),
    ]
