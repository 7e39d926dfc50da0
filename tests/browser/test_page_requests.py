"""Parts of a page that htmx loads or sends: a session that ended meanwhile takes the
whole window to the login page, and a refused or failed request says so on the page."""

import re

import pytest
from playwright.sync_api import expect

from apps.identity.services import visitor_identify
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

VISITOR = "page0000page0000page0000page0000"


@pytest.fixture
def lookup(signed_in, live_server, site):
    visitor_identify(site=site, visitor_id=VISITOR, user_id="ABC", attributes={"plan": "gold"})
    signed_in.goto(f"{live_server.url}/a/{site.account.slug}/lookup/{site.key}/")
    return signed_in


def search(page, user_id):
    page.get_by_label("User ID").fill(user_id)
    page.get_by_role("button", name="Look up").click()


def test_a_search_after_the_session_ended_opens_the_login_page_and_comes_back(
    lookup, live_server, owner, site
):
    lookup.context.clear_cookies()
    search(lookup, "ABC")

    path = f"/a/{site.account.slug}/lookup/{site.key}/"
    expect(lookup).to_have_url(f"{live_server.url}/login/?next={path}")
    expect(lookup.locator("#results")).to_have_count(0)  # the whole window, not a part
    lookup.get_by_label("Email").fill(owner.email)
    lookup.get_by_label("Password").fill(PASSWORD)
    lookup.get_by_role("button", name="Log in").click()

    expect(lookup).to_have_url(live_server.url + path)
    search(lookup, "ABC")
    expect(lookup.locator("article.person")).to_have_attribute("data-user-id", "ABC")


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (404, "This is no longer here: someone may have removed it."),
        (500, "Something went wrong on our side (error 500). Reload the page to see what"),
    ],
)
def test_a_failed_request_says_so_until_one_succeeds(lookup, status, message):
    error = lookup.get_by_role("alert").filter(has_text=re.compile("."))
    expect(error).to_have_count(0)
    lookup.route(re.compile(r".*\?user_id=ABC.*"), lambda route: route.fulfill(status=status))

    search(lookup, "ABC")

    expect(error).to_have_text(re.compile(re.escape(message)))
    expect(lookup.locator("article.person")).to_have_count(0)
    lookup.unroute(re.compile(r".*\?user_id=ABC.*"))
    search(lookup, "ABC")
    expect(lookup.locator("article.person")).to_have_count(1)
    expect(error).to_have_count(0)


def test_a_request_that_cannot_reach_cohort_says_so(lookup):
    lookup.route(re.compile(r".*\?user_id=ABC.*"), lambda route: route.abort())

    search(lookup, "ABC")

    expect(lookup.get_by_role("alert")).to_have_text(
        "Cohort could not be reached. Check the connection, then try again."
    )
