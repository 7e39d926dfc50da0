"""Keyboard use of the pages that change in place, in a real browser: focus stays on a
control after htmx swaps part of the page, instead of falling back to the page's start."""

import pytest
from playwright.sync_api import expect

from apps.accounts.models import Account
from apps.feedback_targeting.models import Widget
from apps.sites.models import Site
from tests.browser.pages import htmx_settled
from tests.feedback_targeting.factories import QuestionFactory, WidgetFactory

pytestmark = pytest.mark.django_db(transaction=True)

SPEND = {"type": "number", "key": "total_spend", "op": "gt", "value": 0}


def test_pausing_a_widget_leaves_focus_on_its_new_button(signed_in, live_server, site):
    poll = WidgetFactory(site=site, kind="poll", name="Spring poll", status=Widget.Status.ACTIVE)
    QuestionFactory(widget=poll, position=0, kind="rating", text="Happy?", choices=[])
    signed_in.goto(f"{live_server.url}/a/{site.account.slug}/widgets/{site.key}/")
    row = signed_in.locator(f"#widget-{poll.pk}")

    row.get_by_role("button", name="Pause").focus()
    signed_in.keyboard.press("Enter")
    expect(row.locator('[data-status="paused"]')).to_be_visible()

    expect(row.get_by_role("button", name="Activate")).to_be_focused()
    signed_in.keyboard.press("Enter")  # and back, without reaching for the mouse
    expect(row.locator('[data-status="active"]')).to_be_visible()
    expect(row.get_by_role("button", name="Pause")).to_be_focused()


def test_removing_a_condition_moves_focus_to_the_next_control(signed_in, live_server, site):
    condition = {"type": "boolean", "key": "vip", "op": "is_true"}
    poll = WidgetFactory(
        site=site, kind="poll", targeting={"match": "all", "conditions": [SPEND, condition]}
    )
    QuestionFactory(widget=poll, position=0, kind="rating", text="Happy?", choices=[])
    signed_in.goto(f"{live_server.url}/a/{site.account.slug}/widgets/{site.key}/{poll.pk}/")
    conditions = signed_in.locator(".condition")
    expect(conditions).to_have_count(2)

    conditions.first.get_by_role("button", name="Remove condition").focus()
    signed_in.keyboard.press("Enter")

    expect(conditions).to_have_count(1)
    expect(conditions.first.locator("select").first).to_be_focused()


def _enable_dialog_opened(page, live_server, site):
    """The Enable User Attributes dialog, opened from its link by keyboard: (the link,
    the dialog)."""
    Account.objects.filter(pk=site.account_id).update(tier="business")
    Site.objects.filter(pk=site.pk).update(user_attributes_enabled=False)
    page.goto(f"{live_server.url}/a/{site.account.slug}/user-attributes/{site.key}/")
    opener = page.get_by_role("link", name="Enable User Attributes")
    opener.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#enable-dialog")
    expect(dialog.locator("input[type=checkbox]").first).to_be_focused()
    htmx_settled(page)  # htmx takes up the dialog's form once it settles
    return opener, dialog


@pytest.mark.parametrize("close", ["Escape", "Cancel"])
def test_a_dialog_sent_back_with_errors_returns_focus_to_its_opener_when_closed(
    signed_in, live_server, site, close
):
    """The dialog with the errors replaced the one the link opened: closing it must not
    leave the keyboard at the top of the page."""
    opener, dialog = _enable_dialog_opened(signed_in, live_server, site)
    dialog.get_by_role("button", name="Enable User Attributes").focus()
    signed_in.keyboard.press("Enter")  # nothing ticked: sent back with its errors
    expect(dialog.get_by_role("alert").first).to_be_visible()
    htmx_settled(signed_in)  # the dialog takes the focus as it settles: then the keyboard

    if close == "Escape":
        signed_in.keyboard.press("Escape")
    else:
        dialog.get_by_role("link", name="Cancel").focus()
        signed_in.keyboard.press("Enter")

    expect(signed_in.locator("dialog[open]")).to_have_count(0)
    expect(opener).to_be_focused()


def test_a_dialog_closed_while_htmx_settles_still_returns_focus_to_its_opener(
    signed_in, live_server, site
):
    """Cancel pressed in the moments after the dialog came back with its errors: the
    pending hand-over of focus from the swap must not take focus from the opener."""
    opener, dialog = _enable_dialog_opened(signed_in, live_server, site)
    # Cancel is pressed at the moment the swap's focus hand-over falls due, before it.
    signed_in.evaluate(
        """() => window.addEventListener("htmx:beforeSwap", () => {
            window.setTimeout(() => {
                document.querySelector("#enable-dialog [data-close-dialog]").click();
            }, 60);
        }, {capture: true, once: true})"""
    )
    dialog.get_by_role("button", name="Enable User Attributes").focus()
    signed_in.keyboard.press("Enter")

    expect(signed_in.locator("dialog")).to_have_count(0)
    signed_in.wait_for_timeout(100)  # past the swap's hand-over of focus, which must not move it
    expect(opener).to_be_focused()


def test_the_account_menu_closes_on_escape_and_when_focus_leaves_it(signed_in, live_server, site):
    page = signed_in
    page.set_viewport_size({"width": 375, "height": 640})
    page.goto(f"{live_server.url}/a/{site.account.slug}/sites/")
    menu = page.locator("details.switcher")
    summary = menu.locator("summary")

    summary.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("open", "")
    page.keyboard.press("Tab")
    page.keyboard.press("Escape")

    expect(menu).not_to_have_attribute("open", "")
    assert summary.evaluate("el => el === document.activeElement")
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("open", "")
    page.keyboard.press("Shift+Tab")  # to the navigation the open menu covers

    expect(menu).not_to_have_attribute("open", "")
