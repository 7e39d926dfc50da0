"""The plan history in the admin is append-only: staff read it, nobody edits it."""

import pytest
from django.urls import reverse

from apps.billing.models import PlanChange
from tests.factories import PlanChangeFactory


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def changes(account, other_account, owner):
    return (
        PlanChangeFactory(account=account, changed_by=owner, to_tier="business"),
        PlanChangeFactory(account=other_account, from_tier="plus", to_tier="scale"),
    )


def test_staff_list_and_search_the_plan_history(staff_client, changes):
    url = reverse("admin:billing_planchange_changelist")

    listed = staff_client.get(url)
    searched = staff_client.get(url, {"q": "other-co"})
    filtered = staff_client.get(url, {"to_tier__exact": "business"})

    assert listed.status_code == 200
    assert {c.pk for c in listed.context["cl"].result_list} == {c.pk for c in changes}
    assert [c.pk for c in searched.context["cl"].result_list] == [changes[1].pk]
    assert [c.pk for c in filtered.context["cl"].result_list] == [changes[0].pk]


def test_a_plan_change_opens_read_only(staff_client, changes):
    response = staff_client.get(reverse("admin:billing_planchange_change", args=[changes[0].pk]))

    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert response.context["has_delete_permission"] is False


@pytest.mark.parametrize(
    ("view", "args"),
    [("add", []), ("change", ["pk"]), ("delete", ["pk"])],
)
def test_nobody_adds_edits_or_deletes_a_plan_change(staff_client, changes, view, args):
    # given the two tenants' plan history
    change = changes[0]
    url = reverse(
        f"admin:billing_planchange_{view}", args=[change.pk if a == "pk" else a for a in args]
    )

    # when staff try to write through the admin
    response = staff_client.post(
        url, {"to_tier": "basic", "source": "staff", "to_billing_version": "1", "post": "yes"}
    )

    # then it is refused and the history is as it was
    assert response.status_code == 403
    change.refresh_from_db()
    assert (change.to_tier, change.to_billing_version) == ("business", 2)
    assert PlanChange.objects.count() == 2


def test_bulk_delete_is_not_offered(staff_client, changes):
    response = staff_client.post(
        reverse("admin:billing_planchange_changelist"),
        {"action": "delete_selected", "_selected_action": [c.pk for c in changes], "post": "yes"},
    )

    assert response.context["action_form"] is None  # no bulk actions at all
    assert PlanChange.objects.count() == 2
