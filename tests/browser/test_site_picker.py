"""The site picker of the Lookup, User Attributes and widget pages, in a real browser: the
keyboard steps through the sites without leaving the page until Enter is pressed."""

import pytest
from playwright.sync_api import expect

from tests.browser.accounts import log_in
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def three_sites(account):
    return [SiteFactory(account=account, name=name) for name in ("Alpha", "Beta", "Gamma")]


@pytest.fixture
def lookup_page(signed_in, live_server, three_sites):
    page = signed_in
    page.goto(f"{live_server.url}/a/{three_sites[0].account.slug}/lookup/{three_sites[0].key}/")
    return page


def test_arrow_keys_choose_a_site_and_enter_opens_it(lookup_page, live_server, three_sites):
    alpha, _, gamma = three_sites
    picker = lookup_page.get_by_label("Site")
    expect(picker).to_have_value(f"/a/{alpha.account.slug}/lookup/{alpha.key}/")

    picker.focus()
    picker.press("ArrowDown")
    picker.press("ArrowDown")
    lookup_page.wait_for_timeout(300)  # a navigation would have started by now
    assert lookup_page.url.endswith(f"/lookup/{alpha.key}/")
    expect(picker).to_have_value(f"/a/{gamma.account.slug}/lookup/{gamma.key}/")

    picker.press("Enter")
    expect(lookup_page).to_have_url(f"{live_server.url}/a/{gamma.account.slug}/lookup/{gamma.key}/")


def test_leaving_the_picker_puts_the_current_site_back(lookup_page, three_sites):
    alpha = three_sites[0]
    picker = lookup_page.get_by_label("Site")

    picker.focus()
    picker.press("ArrowDown")
    picker.press("Tab")

    assert lookup_page.url.endswith(f"/lookup/{alpha.key}/")
    expect(picker).to_have_value(f"/a/{alpha.account.slug}/lookup/{alpha.key}/")


def test_a_site_chosen_with_the_pointer_opens_at_once(lookup_page, live_server, three_sites):
    beta = three_sites[1]

    lookup_page.get_by_label("Site").select_option(label="Beta")

    expect(lookup_page).to_have_url(f"{live_server.url}/a/{beta.account.slug}/lookup/{beta.key}/")


def test_on_macos_an_arrow_opens_the_list_and_the_choice_there_opens_at_once(
    page, live_server, owner, three_sites
):
    """macOS opens a closed select's list on an arrow key; the choice made in that list
    (its change) opens the site without a second Enter."""
    page.add_init_script("Object.defineProperty(navigator, 'platform', {get: () => 'MacIntel'})")
    alpha, beta, _ = three_sites
    log_in(page, live_server.url, owner)
    page.goto(f"{live_server.url}/a/{alpha.account.slug}/lookup/{alpha.key}/")
    picker = page.get_by_label("Site")

    picker.focus()
    picker.press("ArrowDown")  # Chromium on Linux moves the value: a choice, as on macOS

    expect(page).to_have_url(f"{live_server.url}/a/{beta.account.slug}/lookup/{beta.key}/")


@pytest.mark.parametrize("section", ["lookup", "user-attributes", "widgets"])
def test_without_javascript_each_site_is_a_link(browser, live_server, owner, three_sites, section):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, live_server.url, owner)
        alpha, _, gamma = three_sites
        page.goto(f"{live_server.url}/a/{alpha.account.slug}/{section}/{alpha.key}/")

        page.get_by_role("link", name="Gamma", exact=True).click()

        expect(page).to_have_url(f"{live_server.url}/a/{gamma.account.slug}/{section}/{gamma.key}/")
        expect(page.get_by_role("link", name="Gamma", exact=True)).to_have_attribute(
            "aria-current", "page"
        )
    finally:
        context.close()
