"""The plan page: owners upgrade and downgrade; everyone else only reads."""

import pytest
from django.test import override_settings
from django.urls import reverse

from apps.accounts.models import Account
from apps.billing.models import PlanChange
from apps.billing.services import plan_change
from apps.consent.selectors import consent_statements
from apps.consent.services import user_attributes_disable, user_attributes_enable
from apps.feedback_targeting.models import Widget
from apps.feedback_targeting.services import REASON_NO_LONGER, REASON_PLAN, REASON_UA_DISABLED
from apps.sites.models import Site
from apps.sites.services import site_delete
from tests.factories import SiteFactory
from tests.feedback_targeting.factories import WidgetFactory

SPEND = {"type": "number", "key": "total_spend", "op": "gt", "value": 0}


@pytest.fixture
def plan_url(account):
    return reverse("billing:plan", args=[account.slug])


@pytest.fixture
def change_url(account):
    return reverse("billing:change", args=[account.slug])


def _plan(account: Account) -> tuple[str, int]:
    account.refresh_from_db()
    return account.tier, account.billing_version


@pytest.fixture(autouse=True)
def _other_tenant(other_owner, other_site):
    """The second tenant, present in every test; checked untouched where it matters."""


@pytest.mark.parametrize(
    ("start", "target", "flash"),
    [
        ("basic", "business", "Upgraded to Business."),
        ("plus", "scale", "Upgraded to Scale."),
        ("scale", "plus", "Moved to Plus."),
        ("business", "basic", "Moved to Basic."),
    ],
)
def test_owner_changes_the_plan(
    login, owner, account, other_account, plan_url, change_url, start, target, flash
):
    # given an owner on the start tier
    account.tier = start
    account.save(update_fields=["tier"])
    client = login(owner)

    # when they pick another tier (and confirm, where User Attributes go with it)
    response = client.post(change_url, {"tier": target, "confirm": "on"}, follow=True)

    # then the plan changed, the change is in the history with who made it
    assert response.redirect_chain == [(plan_url, 302)]
    assert _plan(account) == (target, 2)
    change = PlanChange.objects.get(account=account)
    assert (change.source, change.changed_by) == ("owner", owner)
    assert (change.from_tier, change.to_tier) == (start, target)
    assert (change.from_billing_version, change.to_billing_version) == (2, 2)
    html = response.content.decode()
    assert flash in html
    assert f'<strong id="current-tier">{Account.Tier(target).label}</strong>' in html
    assert owner.email in html  # the history names who changed it
    assert _plan(other_account) == ("business", 2)


@pytest.fixture
def attribute_poll(site):
    """A running poll of the site (User Attributes enabled) aimed at an attribute."""
    Site.objects.filter(pk=site.pk).update(user_attributes_enabled=True)
    targeting = {"match": "all", "conditions": [SPEND]}
    return WidgetFactory(site=site, status=Widget.Status.ACTIVE, targeting=targeting)


@override_settings(COHORT_SITE_ERASE_SECONDS=0)  # the deleted site's rows still wait
def test_a_deleted_sites_widgets_are_neither_counted_nor_named(
    login, owner, account, site, attribute_poll, change_url
):
    old = SiteFactory(account=account, name="Old shop", user_attributes_enabled=False)
    aimed = {"match": "all", "conditions": [SPEND]}
    for _ in range(2):
        WidgetFactory(site=old, status=Widget.Status.ACTIVE, targeting=aimed)
    # switched off by an earlier plan, on a site whose User Attributes are off
    WidgetFactory(
        site=old, status=Widget.Status.DISABLED, disabled_reason=REASON_PLAN, targeting=aimed
    )
    site_delete(site=old)
    client = login(owner)

    downgrade = client.post(change_url, {"tier": "plus"}).content.decode()
    plan_change(account=account, tier="plus", changed_by=owner)
    upgrade = client.post(change_url, {"tier": "business"}, follow=True).content.decode()

    assert "<strong>1 widget</strong> targeting attributes is switched off" in downgrade
    assert "Old shop" not in downgrade
    assert "Old shop" not in upgrade


def test_a_downgrade_that_takes_user_attributes_away_asks_first(
    login, owner, account, site, attribute_poll, change_url
):
    page = login(owner).post(change_url, {"tier": "plus"})

    html = page.content.decode()
    assert page.status_code == 200
    assert "Move to Plus?" in html
    assert f"<strong>{site.name}</strong>, where User Attributes are enabled" in html
    assert "<strong>1 widget</strong> targeting attributes is switched off" in html
    assert 'name="confirm" value="on"' in html
    assert _plan(account) == ("business", 2)  # nothing changed yet
    assert Widget.objects.get(pk=attribute_poll.pk).status == Widget.Status.ACTIVE


def test_a_confirmed_downgrade_says_what_it_switched_off_and_an_upgrade_what_stays_off(
    login, owner, account, attribute_poll, change_url
):
    # A widget switched off earlier because the site's User Attributes were disabled is
    # not the plan's doing, and the upgrade's message leaves it out.
    WidgetFactory(
        site=attribute_poll.site,
        status=Widget.Status.DISABLED,
        disabled_reason=REASON_UA_DISABLED,
        targeting={"match": "all", "conditions": [SPEND]},
    )
    client = login(owner)

    down = client.post(change_url, {"tier": "plus", "confirm": "on"}, follow=True)
    up = client.post(change_url, {"tier": "business"}, follow=True)

    assert (
        "Moved to Plus. Identify calls are now refused on every site; 1 widget targeting "
        "attributes was switched off. The attributes collected stay"
    ) in down.content.decode()
    assert (
        "Upgraded to Business. User Attributes are back; 1 widget switched off with them "
        "stays off until you switch it on in Widgets."
    ) in up.content.decode()
    assert Widget.objects.get(pk=attribute_poll.pk).status == Widget.Status.DISABLED


def test_after_an_upgrade_widgets_switched_off_say_what_keeps_them_off_now(
    login, owner, account, site, attribute_poll, change_url
):
    # given widgets the plan switched off, on a site whose User Attributes were then
    # disabled
    client = login(owner)
    client.post(change_url, {"tier": "plus", "confirm": "on"})
    user_attributes_disable(site=Site.objects.get(pk=site.pk), user=owner, client_ip=None)
    widgets = reverse("widgets:list", args=[account.slug, site.key])

    # when the plan includes User Attributes again
    up = client.post(change_url, {"tier": "business"}, follow=True)

    # then the upgrade says the site needs them enabled, not that the widget may be
    # switched on, and the widget's row says why it is off now
    assert (
        "Upgraded to Business. User Attributes are back; widgets that target on them stay "
        "off on Main shop until User Attributes are enabled there."
    ) in up.content.decode()
    row = client.get(widgets).content.decode()
    assert REASON_UA_DISABLED in row
    assert REASON_PLAN not in row
    # and once they are enabled, the row says the widget can run again
    user_attributes_enable(
        site=Site.objects.get(pk=site.pk),
        user=owner,
        confirmed=set(consent_statements(account=account)),
        client_ip=None,
    )
    row = client.get(widgets).content.decode()
    assert REASON_NO_LONGER in row
    assert REASON_UA_DISABLED not in row
    assert Widget.objects.get(pk=attribute_poll.pk).status == Widget.Status.DISABLED


def test_a_downgrade_between_plans_without_user_attributes_does_not_ask(
    login, owner, account, change_url
):
    account.tier = "plus"
    account.save(update_fields=["tier"])

    login(owner).post(change_url, {"tier": "basic"})

    assert _plan(account) == ("basic", 2)


def test_choosing_the_current_plan_changes_nothing(login, owner, account, change_url):
    response = login(owner).post(change_url, {"tier": "business"}, follow=True)

    assert "That is already your plan." in response.content.decode()
    assert PlanChange.objects.count() == 0


def test_owner_sees_upgrade_and_downgrade_buttons(login, owner, account, plan_url):
    account.tier = "plus"
    account.save(update_fields=["tier"])

    html = login(owner).get(plan_url).content.decode()

    assert "Downgrade to Basic" in html
    assert "Upgrade to Business" in html
    assert "Upgrade to Scale" in html
    assert "Upgrade to Plus" not in html
    assert "Downgrade to Plus" not in html
    assert "User Attributes need the Business plan or higher; this account is on Plus." in html
    # Plus promises no more than what the product does (no tier limits responses)
    assert "Everything in Basic. User Attributes start at Business." in html
    assert "per month" not in html


@pytest.mark.parametrize("role_fixture", ["admin_user", "member"])
def test_admins_and_members_see_the_plan_without_buttons(request, login, plan_url, role_fixture):
    html = login(request.getfixturevalue(role_fixture)).get(plan_url).content.decode()

    assert "Only account owners can change the plan." in html
    assert "Upgrade to" not in html
    assert "Downgrade to" not in html


@pytest.mark.parametrize("role_fixture", ["admin_user", "member"])
def test_admins_and_members_cannot_change_the_plan(
    request, login, account, change_url, role_fixture
):
    client = login(request.getfixturevalue(role_fixture))

    response = client.post(change_url, {"tier": "scale"})

    assert response.status_code == 403
    assert _plan(account) == ("business", 2)
    assert PlanChange.objects.count() == 0


@pytest.mark.parametrize("tier", ["gold", "", "BUSINESS"])
def test_an_unknown_tier_is_a_readable_error_and_changes_nothing(
    login, owner, account, change_url, tier
):
    response = login(owner).post(change_url, {"tier": tier})

    assert response.status_code == 400
    message = (
        "Choose a plan."
        if tier == ""
        else f"“{tier}” is not a plan. Choose one of: Basic, Plus, Business, Scale."
    )
    assert message in response.content.decode()
    assert _plan(account) == ("business", 2)
    assert PlanChange.objects.count() == 0


def test_owner_cannot_move_the_billing_version_through_the_page(login, owner, account, change_url):
    # a hand-made form that also sends a billing version: only the tier is read
    response = login(owner).post(change_url, {"tier": "scale", "billing_version": "3"})

    assert response.status_code == 302
    assert _plan(account) == ("scale", 2)
    assert PlanChange.objects.get(account=account).to_billing_version == 2


def test_a_v1_account_is_told_to_contact_support(login, owner, account, plan_url):
    account.billing_version = 1
    account.save(update_fields=["billing_version"])

    html = login(owner).get(plan_url).content.decode()

    assert '<strong id="billing-version">V1</strong>' in html
    assert "Billing versions are changed by Cohort support" in html
    assert 'href="mailto:support@cohort.example"' in html
    assert "User Attributes unavailable" in html


def test_a_v1_account_is_not_promised_user_attributes_by_an_upgrade(
    login, owner, account, plan_url, change_url
):
    account.tier, account.billing_version = "plus", 1
    account.save(update_fields=["tier", "billing_version"])
    client = login(owner)

    html = client.get(plan_url).content.decode()
    assert "✓ User Attributes" not in html
    assert html.count("User Attributes &amp; Identify API on billing version V2 only") == 2

    response = client.post(change_url, {"tier": "business"}, follow=True)

    assert _plan(account) == ("business", 1)
    [flash] = [str(m) for m in response.context["messages"]]
    assert flash == (
        "Upgraded to Business. User Attributes also need billing version V2; this account is "
        "on V1: contact support to move it."
    )
    assert "User Attributes unavailable" in response.content.decode()


def test_the_support_address_is_the_deployments_own(login, owner, account, plan_url, settings):
    settings.COHORT_SUPPORT_EMAIL = "help@shop-analytics.example"
    account.billing_version = 1
    account.save(update_fields=["billing_version"])

    html = login(owner).get(plan_url).content.decode()

    assert 'href="mailto:help@shop-analytics.example">help@shop-analytics.example</a>' in html
    assert "support@cohort.example" not in html


def test_a_v2_business_account_has_user_attributes(login, owner, plan_url):
    html = login(owner).get(plan_url).content.decode()

    assert "User Attributes available" in html
    assert "contact support" not in html.lower()
    assert html.count("✓ User Attributes &amp; Identify API") == 2


def test_an_account_without_changes_says_so(login, member, plan_url):
    html = login(member).get(plan_url).content.decode()

    assert "No plan changes yet." in html


def test_the_history_shows_only_this_accounts_changes(
    login, owner, other_owner, account, other_account, plan_url
):
    plan_change(account=other_account, tier="basic", changed_by=other_owner)
    plan_change(account=account, tier="scale", changed_by=owner)

    response = login(owner).get(plan_url)

    assert [c.account_id for c in response.context["history"]] == [account.pk]
    assert other_owner.email not in response.content.decode()
