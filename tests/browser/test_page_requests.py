"""Parts of a page that htmx loads or sends: a session that ended meanwhile takes the
whole window to the login page, and a refused or failed request says so on the page."""

import re

import pytest
from playwright.sync_api import expect

from apps.common.pages import STALE_FORM
from apps.feedback_targeting.services import widget_activate
from apps.identity.services import visitor_identify
from tests.factories import PASSWORD
from tests.feedback_targeting.factories import WidgetFactory

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


def stale_form(page, live_server):
    """Another log-in (in another tab, say) rotated the CSRF token the page was given."""
    page.context.add_cookies([{"name": "csrftoken", "value": "x" * 32, "url": live_server.url}])


def test_a_part_sent_from_a_page_opened_before_the_last_log_in_says_to_reload(
    signed_in, live_server, site
):
    widget = widget_activate(widget=WidgetFactory(site=site, name="Tab", kind="feedback"))
    signed_in.goto(f"{live_server.url}/a/{site.account.slug}/widgets/{site.key}/")
    stale_form(signed_in, live_server)

    signed_in.get_by_role("button", name="Pause").click()

    expect(signed_in.locator("#request-error")).to_have_text(STALE_FORM)
    widget.refresh_from_db()
    assert widget.status == "active"


def test_a_form_sent_from_a_page_opened_before_the_last_log_in_says_to_send_again(
    signed_in, live_server, site
):
    account_page = f"{live_server.url}/a/{site.account.slug}/account/"
    signed_in.goto(account_page)
    stale_form(signed_in, live_server)

    signed_in.get_by_label("Account name").fill("Renamed")
    signed_in.get_by_role("button", name="Rename").click()

    expect(signed_in.get_by_role("heading", name="Please send it again")).to_be_visible()
    signed_in.get_by_role("link", name="Back to the page").click()
    expect(signed_in).to_have_url(account_page)
    site.account.refresh_from_db()
    assert site.account.name != "Renamed"
