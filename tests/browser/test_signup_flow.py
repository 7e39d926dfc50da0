"""In a real browser: sign up, add a site, copy its snippet, log out."""

import re

import pytest
from playwright.sync_api import expect

from apps.sites.models import Site

QUEUE_STUB = "window.hj=window.hj||function(){(hj.q=hj.q||[]).push(arguments)};"


@pytest.mark.django_db(transaction=True)
def test_signup_create_site_see_snippet_log_out(live_server, page):
    base = live_server.url

    # sign up
    page.goto(f"{base}/signup/")
    page.get_by_label("Email").fill("ana@example.com")
    page.get_by_label("Password").fill("a-long-passphrase-42")
    page.get_by_label("Company or team name").fill("Ana's Shop")
    page.get_by_role("button", name="Create account").click()

    # lands on "Add a site" for the new account
    expect(page).to_have_url(f"{base}/a/anas-shop/sites/new/")
    expect(page.get_by_role("heading", name="Add a site")).to_be_visible()
    expect(page.get_by_text("Ana's Shop is ready: add your site.")).to_be_visible()

    # a bad origin is refused inline, then a good one is accepted
    page.get_by_label("Name").fill("Ana's shop")
    page.get_by_label("Allowed origins").fill("shop.example.com")
    page.get_by_role("button", name="Create site").click()
    expect(page.get_by_text("“shop.example.com” is not an origin")).to_be_visible()
    page.get_by_label("Allowed origins").fill("https://shop.example.com")
    page.get_by_role("button", name="Create site").click()

    # the install page shows the snippet and a Copy button
    site = Site.objects.get(account__slug="anas-shop")
    expect(page).to_have_url(f"{base}/a/anas-shop/sites/{site.key}/")
    snippet = page.locator("#install-snippet")
    expect(snippet).to_contain_text(QUEUE_STUB)
    expect(snippet).to_contain_text(f'<script async src="http://127.0.0.1:8000/t/{site.key}.js">')
    copy = page.get_by_role("button", name="Copy")
    expect(copy).to_be_visible()
    copy.click()
    copied = page.get_by_role("button", name="Copied")
    expect(copied).to_be_visible()
    copied.click()  # again before it says Copy again: it still comes back to Copy
    expect(page.get_by_role("button", name="Copy", exact=True)).to_be_visible(timeout=4000)

    # log out from the account menu and land on the login page
    page.locator(".switcher summary").click()
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/login/$"))
    expect(page.get_by_role("heading", name="Log in to Cohort")).to_be_visible()
    # no script errors (the refused form above is a 400 the browser logs, and expected)
    errors = [m for m in page.console_messages if m.startswith("error")]
    assert [m for m in errors if "status of 400" not in m] == []
