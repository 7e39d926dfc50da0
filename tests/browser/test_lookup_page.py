"""Visitor Lookup in a browser: a refused search shows its errors beside the form's
fields, and what it found is not kept in the browser's storage."""

import re

import pytest
from playwright.sync_api import expect

from apps.identity.models import PrivacyAudit
from apps.identity.services import visitor_identify

pytestmark = pytest.mark.django_db(transaction=True)

VISITOR = "look0000look0000look0000look0000"


@pytest.fixture
def lookup(signed_in, live_server, site):
    visitor_identify(
        site=site,
        visitor_id=VISITOR,
        user_id="ABC",
        attributes={"email": "rachel@example.com", "plan": "gold"},
    )
    signed_in.goto(f"{live_server.url}/a/{site.account.slug}/lookup/{site.key}/")
    return signed_in


def search(page, *, user_id="", email=""):
    page.get_by_label("User ID").fill(user_id)
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Look up").click()


def test_a_search_with_no_address_in_email_says_so_beside_the_field(lookup, live_server):
    # given a search that ran
    search(lookup, user_id="ABC")
    expect(lookup.locator("article.person")).to_have_attribute("data-user-id", "ABC")
    searched_url = lookup.url

    # when the next one gives text that is no email address
    search(lookup, email="bob")

    # then the field says why, the last results stay out of the way and the address bar
    # keeps the search that ran
    email = lookup.get_by_label("Email")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_accessible_description(
        "Enter an email address, such as rachel@example.com."
    )
    expect(email).to_have_value("bob")
    expect(lookup.locator("article.person")).to_have_count(0)
    assert lookup.url == searched_url
    assert PrivacyAudit.objects.count() == 1

    # and a corrected search runs
    search(lookup, email="rachel@example.com")
    expect(lookup).to_have_url(re.compile(r"\?user_id=&email=rachel%40example\.com$"))
    expect(lookup.locator("article.person")).to_have_attribute("data-user-id", "ABC")
    expect(lookup.get_by_label("Email")).not_to_have_attribute("aria-invalid", "true")
