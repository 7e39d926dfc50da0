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
    expect(lookup).to_have_url(f"{live_server.url}/login/?next={path}&session=ended")
    expect(lookup.locator("#results")).to_have_count(0)  # the whole window, not a part
    expect(lookup.locator("#session-ended")).to_have_text(
        "Your session ended, so what you asked for last was not done. Log in, then do it again."
    )
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


def test_a_session_that_ended_keeps_what_the_builder_holds_and_says_so(
    signed_in, live_server, site
):
    page = signed_in
    builder = f"{live_server.url}/a/{site.account.slug}/widgets/{site.key}/new/?kind=poll"
    page.goto(builder)
    page.get_by_label("Name").fill("Checkout survey")
    page.context.clear_cookies(name="sessionid")  # the session ended; the page stays open

    page.get_by_label("Thank-you message").fill("Thanks a lot")  # its preview is refused

    expect(page.get_by_role("alert").filter(has_text="Your session ended")).to_have_text(
        "Your session ended, so nothing more can be sent from this page. What you typed is "
        "still here: copy what you need, log in again, then come back to it."
    )
    expect(page).to_have_url(builder)
    expect(page.get_by_label("Name")).to_have_value("Checkout survey")


def test_a_failed_request_from_a_dialog_is_told_in_the_dialog(signed_in, live_server, site):
    page = signed_in
    page.goto(f"{live_server.url}/a/{site.account.slug}/user-attributes/{site.key}/")
    page.get_by_role("link", name="Disable User Attributes").click()
    dialog = page.locator("dialog[open]")
    page.route(re.compile(r".*/disable/$"), lambda route: route.fulfill(status=500))

    dialog.get_by_role("button", name="Disable User Attributes").click()

    expect(dialog.get_by_role("alert")).to_have_text(
        re.compile(r"^Something went wrong on our side \(error 500\)")
    )
    site.refresh_from_db()
    assert site.user_attributes_enabled


def test_a_failed_request_far_down_a_page_is_told_in_view(signed_in, live_server, site):
    page = signed_in
    page.set_viewport_size({"width": 375, "height": 640})
    page.goto(f"{live_server.url}/a/{site.account.slug}/widgets/{site.key}/new/?kind=poll")
    page.route(re.compile(r".*/builder/condition/$"), lambda route: route.fulfill(status=500))
    add = page.get_by_role("button", name="Add condition")
    add.scroll_into_view_if_needed()

    add.click()

    error = page.locator("#request-error")
    expect(error).to_be_in_viewport()
    expect(error).to_have_text(re.compile(r"^Something went wrong on our side"))


def test_logging_out_forgets_the_pages_kept_for_the_back_button(lookup):
    lookup.evaluate("() => sessionStorage.setItem('htmx-history-cache', '[\"kept\"]')")

    lookup.locator(".switcher summary").click()
    lookup.get_by_role("button", name="Log out").click()

    expect(lookup.get_by_role("heading", name="Log in to Cohort")).to_be_visible()
    assert lookup.evaluate("() => sessionStorage.getItem('htmx-history-cache')") is None


def test_a_request_the_page_makes_by_itself_keeps_what_was_typed_after_the_session_ended(
    signed_in, live_server, site
):
    page = signed_in
    page.goto(f"{live_server.url}/a/{site.account.slug}/sites/{site.key}/")
    page.get_by_label("Allowed origins").fill("https://shop.example.com")
    page.context.clear_cookies(name="sessionid")

    # as the install status asks every 10 s while no data has come
    page.evaluate(
        "() => htmx.ajax('GET', document.querySelector('#install-status')"
        ".getAttribute('hx-get'), {target: '#install-status', swap: 'outerHTML'})"
    )

    expect(page.get_by_role("alert").filter(has_text="Your session ended")).to_be_visible()
    expect(page).to_have_url(f"{live_server.url}/a/{site.account.slug}/sites/{site.key}/")
    expect(page.get_by_label("Allowed origins")).to_have_value("https://shop.example.com")
