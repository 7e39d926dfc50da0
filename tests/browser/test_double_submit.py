"""In a real browser: a form that creates something is sent once, however often its
button is pressed while the next page loads."""

import pytest
from playwright.sync_api import expect

from apps.sites.models import Site

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_second_click_while_the_answer_loads_sends_nothing(signed_in, live_server, account):
    page = signed_in
    posts = []

    def answer_later(route):
        # The answer has not come yet (a 204 leaves the page as it is): the person
        # clicks again, and presses Enter in the field.
        if route.request.method == "POST":
            posts.append(route.request.post_data)
            route.fulfill(status=204)
        else:
            route.continue_()

    page.route("**/sites/new/", answer_later)
    page.goto(f"{live_server.url}/a/{account.slug}/sites/new/")
    page.get_by_label("Name").fill("Blog")
    button = page.get_by_role("button", name="Create site")

    button.click()
    page.wait_for_timeout(200)
    button.click()
    page.get_by_label("Name").press("Enter")
    page.wait_for_timeout(300)

    assert len(posts) == 1
    assert page.locator("main form").get_attribute("aria-busy") == "true"


def test_a_form_shown_again_from_the_back_button_can_be_sent(signed_in, live_server, account):
    page = signed_in
    page.goto(f"{live_server.url}/a/{account.slug}/sites/new/")
    page.get_by_label("Name").fill("Blog")
    page.get_by_role("button", name="Create site").click()
    expect(page.get_by_role("heading", name="Install the tracking code")).to_be_visible()

    page.go_back()
    page.get_by_label("Name").fill("Shop")
    page.get_by_role("button", name="Create site").click()

    expect(page.get_by_role("heading", name="Install the tracking code")).to_be_visible()
    assert set(Site.objects.filter(account=account).values_list("name", flat=True)) == {
        "Blog",
        "Shop",
    }
