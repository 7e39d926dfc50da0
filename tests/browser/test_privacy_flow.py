"""In a real browser, as a new customer would: enable User Attributes with the consent
dialog, send identify calls through the real API, find the person in Visitor Lookup by
user id and by email, delete them, and see them gone; disable again and keep the data."""

import json
import re
import urllib.error
import urllib.request

import pytest
from django.apps import apps
from playwright.sync_api import expect

from apps.consent.models import ConsentRecord
from apps.consent.selectors import DPA_VERSION, consent_statements
from apps.feedback_targeting.models import Response
from apps.identity.models import PrivacyAudit, Profile, Session, Visitor
from apps.sites.models import Site
from apps.user_attributes.models import AttributeKey, AttributeValue
from tests.browser.accounts import log_in
from tests.factories import SiteFactory
from tests.feedback_targeting.factories import QuestionFactory, WidgetFactory

pytestmark = pytest.mark.django_db(transaction=True)

TABLET = "tablet123tablet123tablet123aaaaa"
MOBILE = "mobile456mobile456mobile456bbbbb"
ANONYMOUS = "anon0000anon0000anon0000anon0000"
PERSON_APPS = ("identity", "user_attributes", "feedback_targeting")
# Every field of the privacy audit except the salted hash of the search terms.
AUDIT_FIELDS_IN_CLEAR = [
    f.attname
    for f in PrivacyAudit._meta.concrete_fields
    if f.name not in ("terms_salt", "terms_hash")
]


def api_post(live_server, site, path: str, body: dict) -> tuple[int, dict]:
    """A server-side call to the public API of the live server (no Origin header)."""
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/sites/{site.key}/{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def identify(live_server, site, visitor_id, user_id, attributes) -> tuple[int, dict]:
    body = {"visitor_id": visitor_id, "user_id": user_id, "attributes": attributes}
    return api_post(live_server, site, "identify", body)


def visit(live_server, site, visitor_id, session_id, url) -> None:
    body = {"visitor_id": visitor_id, "session_id": session_id, "url": url}
    assert api_post(live_server, site, "sessions", body)[0] == 200


def row_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for app in PERSON_APPS
        for model in apps.get_app_config(app).get_models()
    }


def rows_of(*, profile_ids, visitor_ids) -> dict[str, int]:
    """Rows of every model of the person's apps that point at these profiles or devices."""
    found = {}
    for app in PERSON_APPS:
        for model in apps.get_app_config(app).get_models():
            fields = {f.name for f in model._meta.get_fields() if f.concrete}
            if model is Profile:
                found[model.__name__] = model.objects.filter(pk__in=profile_ids).count()
            elif model is Visitor:
                found[model.__name__] = model.objects.filter(pk__in=visitor_ids).count()
            elif "profile" in fields or "visitor" in fields:
                query = model.objects.none()
                if "profile" in fields:
                    query |= model.objects.filter(profile_id__in=profile_ids)
                if "visitor" in fields:
                    query |= model.objects.filter(visitor_id__in=visitor_ids)
                found[model.__name__] = query.count()
    return found


@pytest.fixture
def shop(live_server, account, other_site):
    """A site of the Business / V2 account, with User Attributes still disabled."""
    return SiteFactory(
        account=account,
        name="Radbooks shop",
        allowed_origins=[live_server.url],
        user_attributes_enabled=False,
    )


@pytest.fixture
def logged_in(page, live_server, owner):
    log_in(page, live_server.url, owner)
    expect(page.get_by_role("link", name="Visitor Lookup")).to_be_visible()
    return page


def nav(page, name: str):
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)


def open_settings(page, live_server, shop):
    nav(page, "User Attributes").click()
    expect(page).to_have_url(f"{live_server.url}/a/radbooks/user-attributes/{shop.key}/")
    expect(page.get_by_role("heading", name="User Attributes", exact=True)).to_be_visible()


def nothing_changed(shop) -> None:
    assert Site.objects.get(pk=shop.pk).user_attributes_enabled is False
    assert not ConsentRecord.objects.exists()


def test_enable_identify_look_up_by_user_id_and_email_delete_and_see_them_gone(
    live_server, logged_in, shop, owner, other_site
):
    page = logged_in
    open_settings(page, live_server, shop)
    expect(page.locator("#ua-badge")).to_have_text("Disabled")
    expect(page.locator("#ua-state")).to_contain_text("Identify calls from this site are refused")

    # The dialog asks for both confirmations: one ticked box is refused inside the dialog
    page.get_by_role("link", name="Enable User Attributes").click()
    dialog = page.locator("#enable-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", name="Enable User Attributes?")).to_be_visible()
    statements = consent_statements(account=shop.account)
    for text in statements.values():
        expect(dialog).to_contain_text(text)
    agreement = dialog.get_by_role(
        "link", name=f"Data Processing Agreement (version {DPA_VERSION})"
    )
    expect(agreement).to_have_attribute("href", "/legal/dpa/")
    dialog.locator("input[name=privacy_reviewed]").check()
    dialog.get_by_role("button", name="Enable User Attributes").click()
    expect(dialog.get_by_role("alert")).to_have_text(
        "Confirm that the account accepts the Data Processing Agreement."
    )
    expect(dialog).to_be_visible()
    expect(dialog.locator("input[name=privacy_reviewed]")).to_be_checked()
    expect(dialog.locator("input[name=dpa_signed]")).not_to_be_checked()
    nothing_changed(shop)

    # Cancel closes the dialog and changes nothing
    dialog.get_by_role("link", name="Cancel").click()
    expect(page.locator("dialog")).to_have_count(0)
    expect(page).to_have_url(f"{live_server.url}/a/radbooks/user-attributes/{shop.key}/")
    expect(page.locator("#ua-badge")).to_have_text("Disabled")
    nothing_changed(shop)

    # Both boxes ticked: enabled, and the confirmation is recorded
    page.get_by_role("link", name="Enable User Attributes").click()
    dialog = page.locator("#enable-dialog")
    dialog.locator("input[name=privacy_reviewed]").check()
    dialog.locator("input[name=dpa_signed]").check()
    dialog.get_by_role("button", name="Enable User Attributes").click()
    expect(page.locator("#ua-badge")).to_have_text("Enabled")
    expect(page.locator("dialog")).to_have_count(0)
    expect(page.get_by_text("User Attributes are enabled for Radbooks shop.")).to_be_visible()
    expect(page.locator("#consent-history tbody tr")).to_have_count(1)
    expect(page.locator("#consent-history")).to_contain_text(owner.email)
    assert Site.objects.get(pk=shop.pk).user_attributes_enabled is True
    record = ConsentRecord.objects.get()
    assert (record.site_id, record.action, record.user, record.dpa_version) == (
        shop.pk,
        "enabled",
        owner,
        DPA_VERSION,
    )
    assert record.statements == list(statements.values())
    assert record.client_ip == "127.0.0.1"
    assert "Chrome" in record.user_agent

    # The customer's back end and pages send identify calls: Rachel (user ABC) on a tablet
    # and a phone, and an anonymous visitor
    visit(live_server, shop, TABLET, "session-tablet-0000001", "https://shop.example/a")
    visit(live_server, shop, MOBILE, "session-mobile-0000001", "https://shop.example/b")
    visit(live_server, shop, ANONYMOUS, "session-anon-00000001", "https://shop.example/c")
    status, answer = identify(
        live_server,
        shop,
        TABLET,
        "ABC",
        {"email": "Rachel@Example.com", "total_spend": 500, "first_purchase": "2019-06-20Z"},
    )
    assert (status, sorted(answer["stored"]), answer["rejected"]) == (
        200,
        ["email", "first_purchase", "total_spend"],
        {},
    )
    assert identify(live_server, shop, MOBILE, "ABC", {"total_spend": 650})[0] == 200
    assert identify(live_server, shop, ANONYMOUS, None, {"ab_test": "variant-A"})[0] == 200
    poll = WidgetFactory(site=shop, name="Checkout poll")
    question = QuestionFactory(widget=poll, position=0, text="Where did you hear of us?")
    status, _ = api_post(
        live_server,
        shop,
        f"widgets/{poll.pk}/responses",
        {"visitor_id": MOBILE, "answers": {str(question.pk): "Search"}},
    )
    assert status == 201
    rachel = Profile.objects.get(site=shop, user_id="ABC")
    devices = list(Visitor.objects.filter(site=shop, profile=rachel).values_list("pk", flat=True))
    assert len(devices) == 2

    # Visitor Lookup by user id shows attributes, devices, sessions and the response
    nav(page, "Visitor Lookup").click()
    expect(page).to_have_url(f"{live_server.url}/a/radbooks/lookup/{shop.key}/")
    page.get_by_label("User ID").fill("ABC")
    page.get_by_role("button", name="Look up").click()
    expect(page).to_have_url(re.compile(r"\?user_id=ABC&email=$"))
    person = page.locator("article.person")
    expect(person).to_have_count(1)
    expect(person).to_have_attribute("data-user-id", "ABC")
    expect_rachel(person)

    # ... and by email alone, in another case
    page.get_by_label("User ID").fill("")
    page.get_by_label("Email").fill("rachel@EXAMPLE.com")
    page.get_by_role("button", name="Look up").click()
    expect(page).to_have_url(re.compile(r"\?user_id=&email=rachel%40EXAMPLE\.com$"))
    person = page.locator("article.person")
    expect(person).to_have_count(1)
    expect(person).to_have_attribute("data-user-id", "ABC")
    expect_rachel(person)

    # Delete from the results, through the confirmation dialog
    before = row_counts()
    page.get_by_role("link", name="Delete this person…").click()
    dialog = page.locator("#delete-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("email rachel@EXAMPLE.com")
    expect(dialog.locator(".deletion-scope")).to_have_text("user ABC")
    dialog.get_by_role("button", name="Delete permanently").click()

    expect(page.locator(".flash-success")).to_have_text(
        "Deleted everything stored about this person on Radbooks shop: 1 profile, "
        "3 attribute values, 2 devices, 2 sessions and 1 feedback response. The request is "
        "recorded in the privacy audit trail without personal data."
    )
    expect(page.locator("#no-results")).to_have_text(
        "Nothing is stored about anyone with these details on Radbooks shop."
    )

    # Every row of Rachel is gone from every table; the anonymous visitor is untouched
    assert rows_of(profile_ids=[rachel.pk], visitor_ids=devices) == {
        "Profile": 0,
        "Visitor": 0,
        "Session": 0,
        "AttributeValue": 0,
        "Response": 0,
    }
    after = row_counts()
    assert after == before | {
        "Profile": before["Profile"] - 1,
        "Visitor": before["Visitor"] - 2,
        "Session": before["Session"] - 2,
        "AttributeValue": before["AttributeValue"] - 3,
        "Response": before["Response"] - 1,
        # the dialog's lookup of whom it deletes, the deletion, and the lookup the results
        # page made afterwards
        "PrivacyAudit": before["PrivacyAudit"] + 3,
    }
    assert not AttributeValue.objects.filter(string_value="rachel@example.com").exists()
    assert list(Session.objects.values_list("session_key", flat=True)) == ["session-anon-00000001"]
    anonymous = Visitor.objects.get(site=shop, visitor_id=ANONYMOUS)
    assert list(AttributeValue.objects.filter(profile=anonymous.profile).values("key")) == [
        {"key": "ab_test"}
    ]
    catalogue = dict(AttributeKey.objects.filter(site=shop).values_list("key", "profile_count"))
    assert catalogue == {"ab_test": 1, "email": 0, "first_purchase": 0, "total_spend": 0}
    assert Response.objects.filter(widget=poll).count() == 0

    # The deletion is audited without personal data
    audit = PrivacyAudit.objects.get(action="delete")
    assert (audit.site_id, audit.channel, audit.requested_by, audit.profiles_found) == (
        shop.pk,
        "page",
        owner,
        1,
    )
    assert (audit.searched_user_id, audit.searched_email) == (False, True)
    assert audit.deleted_counts == {
        "profiles": 1,
        "attribute_values": 3,
        "visitors": 2,
        "sessions": 2,
        "responses": 1,
    }
    audit_text = json.dumps(
        list(PrivacyAudit.objects.values(*AUDIT_FIELDS_IN_CLEAR)), default=str
    ).lower()
    assert "abc" not in audit_text
    assert "rachel" not in audit_text

    # Searching again by user id finds nobody
    page.get_by_label("Email").fill("")
    page.get_by_label("User ID").fill("ABC")
    page.get_by_role("button", name="Look up").click()
    expect(page).to_have_url(re.compile(r"\?user_id=ABC&email=$"))
    expect(page.locator("#no-results")).to_be_visible()
    expect(page.locator("article.person")).to_have_count(0)
    assert not Profile.objects.filter(site=other_site).exists()
    errors = [m for m in page.console_messages if m.startswith("error")]
    assert [m for m in errors if "status of 400" not in m] == []


def expect_rachel(person) -> None:
    attributes = person.locator("table.attributes tbody tr")
    expect(attributes).to_have_count(3)
    expect(person.locator('tr[data-key="email"]')).to_contain_text("rachel@example.com")
    expect(person.locator('tr[data-key="total_spend"]')).to_contain_text("Number")
    expect(person.locator('tr[data-key="total_spend"]')).to_contain_text("650")
    expect(person.locator('tr[data-key="first_purchase"]')).to_contain_text("2019-06-20")
    expect(person.locator("ul.visitors li")).to_have_count(2)
    expect(person.locator("ul.visitors")).to_contain_text(TABLET)
    expect(person.locator("ul.visitors")).to_contain_text(MOBILE)
    expect(person.locator("table.sessions tbody tr")).to_have_count(2)
    expect(person.locator("table.sessions")).to_contain_text("https://shop.example/a")
    expect(person.locator("table.sessions")).to_contain_text("https://shop.example/b")
    expect(person.locator("table.responses tbody tr")).to_have_count(1)
    expect(person.locator("table.responses")).to_contain_text("Where did you hear of us? Search")


def test_disabling_with_the_dialog_keeps_the_data_and_refuses_identify_calls(
    live_server, logged_in, shop, owner
):
    # given a site with User Attributes enabled and attributes stored
    Site.objects.filter(pk=shop.pk).update(user_attributes_enabled=True)
    assert identify(live_server, shop, TABLET, "ABC", {"plan": "gold", "total_spend": 5})[0] == 200
    assert identify(live_server, shop, ANONYMOUS, None, {"ab_test": "variant-A"})[0] == 200
    values_before = list(AttributeValue.objects.order_by("pk").values())
    page = logged_in
    open_settings(page, live_server, shop)
    expect(page.locator("#ua-badge")).to_have_text("Enabled")
    expect(page.locator("#catalogue tbody tr")).to_have_count(3)

    # Cancel in the dialog changes nothing
    page.get_by_role("link", name="Disable User Attributes").click()
    dialog = page.locator("#disable-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Attributes already stored stay in place")
    dialog.get_by_role("link", name="Cancel").click()
    expect(page.locator("dialog")).to_have_count(0)
    assert Site.objects.get(pk=shop.pk).user_attributes_enabled is True

    # when the owner confirms disabling
    page.get_by_role("link", name="Disable User Attributes").click()
    page.locator("#disable-dialog").get_by_role("button", name="Disable User Attributes").click()

    # then the page says identify calls are refused and the data stays
    expect(page.locator("#ua-badge")).to_have_text("Disabled")
    expect(page.locator("#ua-state")).to_contain_text(
        "Identify calls from this site are refused; the 3 attribute keys already collected "
        "stay in place and can still be looked up and deleted."
    )
    expect(page.locator(".flash-success")).to_contain_text("Identify calls are refused")
    expect(page.locator("#catalogue tbody tr")).to_have_count(3)
    expect(page.get_by_role("link", name="Enable User Attributes")).to_be_visible()
    assert Site.objects.get(pk=shop.pk).user_attributes_enabled is False
    assert list(AttributeValue.objects.order_by("pk").values()) == values_before
    record = ConsentRecord.objects.get()
    assert (record.action, record.user, record.statements) == ("disabled", owner, [])

    # and an identify call through the API is refused, storing nothing
    status, answer = identify(live_server, shop, MOBILE, "ABC", {"plan": "silver"})
    assert (status, answer["code"]) == (403, "user_attributes_disabled")
    assert list(AttributeValue.objects.order_by("pk").values()) == values_before
    assert not Visitor.objects.filter(visitor_id=MOBILE).exists()

    # and the person can still be found
    nav(page, "Visitor Lookup").click()
    page.get_by_label("User ID").fill("ABC")
    page.get_by_role("button", name="Look up").click()
    expect(page.locator('article.person[data-user-id="ABC"] tr[data-key="plan"]')).to_contain_text(
        "gold"
    )
