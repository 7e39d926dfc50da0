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
    expect(email).to_be_focused()  # as a page sent back with errors does
    expect(lookup.locator("article.person")).to_have_count(0)
    assert lookup.url == searched_url
    assert PrivacyAudit.objects.count() == 1

    # and a corrected search runs
    search(lookup, email="rachel@example.com")
    expect(lookup).to_have_url(re.compile(r"\?user_id=&email=rachel%40example\.com$"))
    expect(lookup.locator("article.person")).to_have_attribute("data-user-id", "ABC")
    expect(lookup.get_by_label("Email")).not_to_have_attribute("aria-invalid", "true")


def history_cache(page) -> str:
    """What htmx keeps of the pages it swapped, to show them again on Back (beside it,
    htmx keeps the address of the page, which the browser's history holds anyway)."""
    return page.evaluate("() => sessionStorage.getItem('htmx-history-cache') || ''")


def browser_storage(page) -> str:
    return page.evaluate(
        "() => JSON.stringify([Object.entries(sessionStorage), Object.entries(localStorage)])"
    )


def test_what_a_search_found_is_not_kept_in_the_browser_and_back_shows_the_whole_page(
    lookup, live_server, site
):
    # when two searches run, one after the other
    search(lookup, user_id="ABC")
    expect(lookup.locator("article.person")).to_have_attribute("data-user-id", "ABC")
    search(lookup, email="rachel@example.com")
    expect(lookup).to_have_url(re.compile(r"\?user_id=&email=rachel%40example\.com$"))
    expect(lookup.locator("article.person")).to_have_count(1)

    # then the browser's storage holds nothing of the person (it outlives the log-out)
    cache = history_cache(lookup)
    for found in ("ABC", "rachel@example.com", "gold", VISITOR, "data-user-id"):
        assert found not in cache
    for found in ("gold", VISITOR, "data-user-id"):
        assert found not in browser_storage(lookup)

    # and Back shows the first search again as a whole page, asked of the server, held
    # until the member runs it again (each search is recorded in their name)
    recorded = PrivacyAudit.objects.count()
    lookup.go_back()
    expect(lookup).to_have_url(re.compile(r"\?user_id=ABC&email=$"))
    expect(lookup.locator("#search-held")).to_contain_text("This is a search you made before")
    expect(lookup.locator("article.person")).to_have_count(0)
    assert PrivacyAudit.objects.count() == recorded
    expect(lookup.get_by_role("navigation", name="Main")).to_have_count(1)
    expect(lookup.get_by_role("heading", name="Visitor Lookup")).to_have_count(1)
    expect(lookup.get_by_label("User ID")).to_have_value("ABC")
    expect(lookup.locator("#lookup-form")).to_have_count(1)
    assert "ABC" not in history_cache(lookup)
    assert "gold" not in browser_storage(lookup)


def test_going_back_after_the_session_ended_opens_the_login_page(lookup, live_server, site):
    search(lookup, user_id="ABC")
    search(lookup, email="rachel@example.com")
    expect(lookup.locator("article.person")).to_have_count(1)
    lookup.context.clear_cookies(name="sessionid")

    lookup.go_back()

    expect(lookup).to_have_url(re.compile(r"/login/\?next="))
    expect(lookup.get_by_role("heading", name="Log in to Cohort")).to_be_visible()
