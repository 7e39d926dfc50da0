"""In Chromium: build the seed's example poll in the builder by clicking, watch the preview
count follow the rule, save and activate it."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.accounts.models import Membership
from apps.common.demo import DEMO_POLL_TARGETING
from apps.feedback_targeting.models import Widget
from apps.identity.services import visitor_identify
from tests.browser.accounts import log_in
from tests.browser.pages import htmx_settled
from tests.factories import AccountFactory, MembershipFactory, SiteFactory
from tests.feedback_targeting.factories import QuestionFactory, WidgetFactory

pytestmark = pytest.mark.django_db(transaction=True)

NAME = "Paying customers: how are we doing?"
QUESTION = "How happy are you with Radbooks?"


def _visitor(n: int) -> str:
    return f"visitor{n}".ljust(32, "0")


@pytest.fixture
def shop():
    """A Business account whose site has four profiles: one paying customer who bought
    long ago, one who bought two days ago, one who never paid, and an anonymous visitor."""
    account = AccountFactory(name="Radbooks", slug="radbooks")
    owner = MembershipFactory(account=account, role=Membership.Role.OWNER).user
    site = SiteFactory(account=account, name="radbooks.com")
    recently = (timezone.now() - timedelta(days=2)).strftime("%Y-%m-%dZ")
    people = [
        ("ABC", {"total_spend": 500, "first_purchase": "2019-06-20Z"}),
        ("DEF", {"total_spend": 20, "first_purchase": recently}),
        ("GHI", {"total_spend": 0, "first_purchase": "2019-06-20Z"}),
        (None, {"ab_test": "variant-A"}),
    ]
    for n, (user_id, attributes) in enumerate(people):
        visitor_identify(site=site, visitor_id=_visitor(n), user_id=user_id, attributes=attributes)
    return owner, site


def _choose(page, select: str, value: str) -> None:
    """Pick an option that makes htmx re-render the row, and wait until it has: the
    server marks the chosen option `selected` in the markup, a click does not."""
    page.locator(select).select_option(value)
    expect(page.locator(f'{select} option[value="{value}"][selected]')).to_have_count(1)
    htmx_settled(page)


def _add_condition(page, prefix: str):
    page.get_by_role("button", name="Add condition").click()
    row = page.locator(f"#condition-{prefix}")
    expect(row).to_be_visible()
    htmx_settled(page)
    return row


def test_build_the_seed_poll_by_clicking_then_save_and_activate(live_server, page, shop):
    owner, site = shop
    base = live_server.url
    count = page.locator("#preview-count")

    # log in and open Widgets from the main navigation
    log_in(page, base, owner)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Widgets").click()
    expect(page).to_have_url(f"{base}/a/radbooks/widgets/{site.key}/")
    page.get_by_role("link", name="New poll").click()
    expect(page.get_by_role("heading", name="New poll")).to_be_visible()

    # without conditions the poll would reach every profile of the site
    expect(count).to_have_text("4")

    # name it and ask one rating question; the widget preview follows
    page.get_by_label("Name", exact=True).fill(NAME)
    question = page.locator("#question-q0")
    _choose(page, "#id_q0-kind", "rating")
    expect(question.get_by_label("Choices")).to_have_count(0)
    question.get_by_label("Question", exact=True).press_sequentially(QUESTION)
    preview = page.locator("#widget-preview")
    expect(preview).to_contain_text(QUESTION)
    expect(preview.locator(".wp-rating span")).to_have_text(["1", "2", "3", "4", "5"])

    # first condition: total_spend > 0
    row = _add_condition(page, "c0")
    expect(row.get_by_label("Attribute")).to_be_focused()
    expect(row.get_by_label("Attribute").locator("option")).to_contain_text(
        ["Choose…", "ab_test (string)", "first_purchase (date)", "total_spend (number)"]
    )
    _choose(page, "#c0-key", "total_spend")
    expect(row.get_by_label("Operator").locator("option")).to_have_text(
        ["=", "≠", ">", "≥", "<", "≤", "between", "is set", "is not set"]
    )
    _choose(page, "#c0-op", "gt")
    row.get_by_label("Value").press_sequentially("0")
    expect(count).to_have_text("2")

    # second condition: first_purchase more than 10 days ago
    row = _add_condition(page, "c1")
    _choose(page, "#c1-key", "first_purchase")
    expect(row.get_by_label("Operator").locator("option")).to_have_text(
        [
            "before",
            "after",
            "on",
            "more than N days ago",
            "less than N days ago",
            "is set",
            "is not set",
        ]
    )
    _choose(page, "#c1-op", "more_than_days_ago")
    row.get_by_label("Days").press_sequentially("10")
    expect(count).to_have_text("1")
    expect(page.locator("#targeting-count")).to_have_text("This targeting matches 1 profile now.")

    # a condition added by mistake goes again without a reload
    _add_condition(page, "c2")
    page.locator("#condition-c2").get_by_role("button", name="Remove condition").click()
    expect(page.locator("#condition-c2")).to_have_count(0)
    expect(count).to_have_text("1")

    # save: the poll is stored as a draft with the seed's targeting
    page.get_by_role("button", name="Save", exact=True).click()
    widget = Widget.objects.get(site=site)
    expect(page).to_have_url(f"{base}/a/radbooks/widgets/{site.key}/{widget.pk}/")
    expect(page.get_by_text(f"“{NAME}” is saved.")).to_be_visible()
    assert (widget.name, widget.kind, widget.status) == (NAME, "poll", "draft")
    assert widget.targeting == DEMO_POLL_TARGETING
    assert list(widget.questions.values_list("kind", "text", "required")) == [
        ("rating", QUESTION, True)
    ]
    expect(count).to_have_text("1")

    # activate it from the edit page, with a change not saved yet: it is saved first
    page.get_by_label("Name", exact=True).fill(f"{NAME} (v2)")
    page.get_by_role("button", name="Save and activate").click()
    expect(page.get_by_text(f"“{NAME} (v2)” is saved and active.")).to_be_visible()
    expect(page.locator("#widget-actions [data-status]")).to_have_text("Active")
    widget.refresh_from_db()
    assert (widget.name, widget.status) == (f"{NAME} (v2)", "active")
    assert widget.targeting == DEMO_POLL_TARGETING

    # the list says who sees it, in words
    page.get_by_role("link", name=re.compile("Widgets of radbooks.com")).click()
    expect(page.locator(f"#widget-{widget.pk}")).to_contain_text(
        "total_spend > 0 and first_purchase more than 10 days ago"
    )
    errors = [m for m in page.console_messages if m.startswith("error")]
    assert errors == [], "\n".join(errors)


@pytest.mark.parametrize("status", ["draft", "active"])
def test_enter_in_a_field_of_a_saved_widget_saves_and_switches_nothing(
    live_server, page, shop, status
):
    owner, site = shop
    widget = WidgetFactory(site=site, name="Old name", status=status, targeting={})
    QuestionFactory(widget=widget, position=0, kind="rating", text=QUESTION, choices=[])
    log_in(page, live_server.url, owner)
    page.goto(f"{live_server.url}/a/radbooks/widgets/{site.key}/{widget.pk}/")

    name = page.get_by_label("Name", exact=True)
    name.fill("New name")
    name.press("Enter")

    expect(page.get_by_text("“New name” is saved.")).to_be_visible()
    widget.refresh_from_db()
    assert (widget.name, widget.status) == ("New name", status)


def test_the_count_follows_a_value_pasted_without_typing(live_server, page, shop):
    """A value put in with the mouse (paste, drag, the browser's autofill) raises no key
    events: the count must follow it without the field losing focus."""
    owner, site = shop
    log_in(page, live_server.url, owner)
    page.goto(f"{live_server.url}/a/radbooks/widgets/{site.key}/new/?kind=poll")
    count = page.locator("#preview-count")
    expect(count).to_have_text("4")
    row = _add_condition(page, "c0")
    _choose(page, "#c0-key", "total_spend")
    _choose(page, "#c0-op", "gt")

    value = row.get_by_label("Value")
    value.fill("100")  # an input event, no key pressed

    expect(count).to_have_text("1")
    expect(value).to_be_focused()


def test_moving_a_question_reorders_the_poll_and_keeps_its_answers(live_server, page, shop):
    owner, site = shop
    widget = WidgetFactory(site=site, name="Order", targeting={})
    first = QuestionFactory(widget=widget, position=0, kind="rating", text="Happy?", choices=[])
    second = QuestionFactory(widget=widget, position=1, kind="text", text="Why?", choices=[])
    log_in(page, live_server.url, owner)
    page.goto(f"{live_server.url}/a/radbooks/widgets/{site.key}/{widget.pk}/")
    blocks = page.locator("#questions .question")
    preview = page.locator("#widget-preview")

    # the first block has no "Move up", the last no "Move down"
    expect(blocks.first.get_by_role("button", name="Move up this question")).to_be_hidden()
    down = blocks.first.get_by_role("button", name="Move down this question")
    down.focus()
    page.keyboard.press("Enter")

    expect(blocks.first.get_by_label("Question", exact=True)).to_have_value("Why?")
    # the moved block reached the end: focus goes to its "Move up"
    expect(blocks.last.get_by_role("button", name="Move up this question")).to_be_focused()
    expect(preview).to_have_text(re.compile(r"Why\?.*Happy\?", re.S))  # the preview follows

    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("“Order” is saved.")).to_be_visible()
    assert list(widget.questions.order_by("position").values_list("pk", flat=True)) == [
        second.pk,
        first.pk,
    ]
