"""A form sent back with errors: the first field in error has the focus and is in view,
wherever the form sits on its page."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

IN_VIEW = """(el) => {
  const box = el.getBoundingClientRect();
  return box.top >= 0 && box.bottom <= window.innerHeight;
}"""


def test_a_refused_site_setting_is_focused_and_in_view(signed_in, live_server, site):
    page = signed_in
    page.set_viewport_size({"width": 1440, "height": 700})
    page.goto(f"{live_server.url}/a/{site.account.slug}/sites/{site.key}/")

    page.get_by_label("Allowed origins").fill("https://*.shop.test")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state()

    origins = page.get_by_label("Allowed origins")
    assert origins.evaluate("el => el === document.activeElement")
    assert origins.evaluate(IN_VIEW)
    assert page.locator(".has-error .error").first.evaluate(IN_VIEW)


def test_a_token_without_a_name_is_focused_and_in_view(signed_in, live_server, site):
    page = signed_in
    page.set_viewport_size({"width": 1440, "height": 700})
    page.goto(f"{live_server.url}/a/{site.account.slug}/account/")

    page.locator("#tokens").get_by_role("button", name="Create token").click()
    page.wait_for_load_state()

    name = page.locator("#tokens").get_by_label("Name")
    assert name.evaluate("el => el === document.activeElement")
    assert name.evaluate(IN_VIEW)


def test_a_page_without_errors_leaves_the_focus_alone(signed_in, live_server, site):
    signed_in.goto(f"{live_server.url}/a/{site.account.slug}/sites/{site.key}/")

    assert signed_in.evaluate("document.activeElement === document.body")
