"""Logging in through the app's own form, as a customer does."""

from tests.factories import PASSWORD


def log_in(page, base_url: str, user) -> None:
    """Log `user` in through the log-in form and wait until the app's page is open."""
    page.goto(f"{base_url}/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login/" not in url)
