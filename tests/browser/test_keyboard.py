"""Keyboard use of the pages that change in place, in a real browser: focus stays on a
control after htmx swaps part of the page, instead of falling back to the page's start."""

import pytest
from playwright.sync_api import expect

from apps.feedback_targeting.models import Widget
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
