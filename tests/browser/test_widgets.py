"""Polls and Incoming Feedback in Chromium, shown by the tracking script from the real API.

As in test_tracker.py, the customer's shop is a page on another origin (127.0.0.1 instead
of localhost, same port) whose HTML Playwright serves; the script, the widget decision and
the responses are the live server's. Pages run in debug mode unless a test says otherwise,
so that each widget decision can be waited for in the console.
"""

import json
import re
import time

import pytest

from apps.feedback_targeting.models import Response, Widget
from apps.feedback_targeting.selectors import live_widgets_forget
from apps.feedback_targeting.services import QuestionSpec, widget_activate, widget_save
from apps.feedback_targeting.texts import WIDGET_TEXTS
from apps.identity.models import Profile, Visitor
from tests.browser.accounts import log_in
from tests.browser.shop import STUB, CustomerPage
from tests.factories import MembershipFactory, SiteFactory

pytestmark = pytest.mark.django_db(transaction=True)

PAYING_FOR_10_DAYS = {
    "match": "all",
    "conditions": [
        {"type": "number", "key": "total_spend", "op": "gt", "value": 0},
        {"type": "date", "key": "first_purchase", "op": "more_than_days_ago", "value": 10},
    ],
}
RACHEL = "hj('identify', 'ABC', {total_spend: 500, first_purchase: '2019-06-20Z'})"
HAPPY = "How happy are you with Radbooks?"
IMPROVE = "What should we improve first?"
GENRES = "Which genres do you read?"
ANYTHING = "Anything else?"
THANKS = "Thank you! Your answer helps us choose what to fix first."
CONSENT = "Connect my feedback to this email"
DECISION = "info: [cohort] widgets ("
NONCE = "shop-nonce-1"


class Shop(CustomerPage):
    """A customer's page on its own origin with the install snippet, in debug mode."""

    def __init__(self, page, live_server, site):
        self.head = ""  # extra markup for <head>: the host page's own CSS
        self.body = "<h1>Shop</h1><button class='primary'>Buy</button>"
        self.offers: list[list[dict]] = []  # each widget decision the API answered
        self.csp = ""  # the page's Content-Security-Policy; its scripts carry NONCE
        self.lang = "en"  # the page's language
        super().__init__(page, live_server, site)

    def _serve(self, route):
        nonce = f' nonce="{NONCE}"' if self.csp else ""
        html = (
            f"<!doctype html><html lang='{self.lang}'><head><script{nonce}>{STUB}</script>"
            f'<script async src="{self.script_url}"{nonce}></script>{self.head}</head>'
            f"<body>{self.body}</body></html>"
        )
        headers = {"Content-Security-Policy": self.csp} if self.csp else {}
        route.fulfill(status=200, content_type="text/html", body=html, headers=headers)

    def _record(self, response):
        if response.request.method == "GET" and response.url.startswith(f"{self.api}/widgets?"):
            self.offers.append(response.json()["widgets"] if response.status == 200 else None)

    def open(self, debug=True):
        """Open the page and wait for the script's first widget decision."""
        seen = len(self.decisions())
        self.page.goto(f"{self.origin}/shop/page" + ("?cohortDebug=1" if debug else ""))
        self.page.wait_for_function("window.hj && window.hj.cohort")
        if debug:
            return self.wait_for_decision(seen + 1)
        return None

    def decisions(self):
        return [m for m in self.page.console_messages if m.startswith(DECISION)]

    def wait_for_decision(self, count, timeout=10.0):
        """The `count`-th widget decision logged (1-based, counted since the test began),
        once the API answer it was made from has been recorded too."""
        deadline = time.monotonic() + timeout
        while len(self.decisions()) < count or len(self.offers) < count:
            assert time.monotonic() < deadline, f"no widget decision {count}: {self.decisions()}"
            self.page.wait_for_timeout(50)
        return self.decisions()[count - 1]

    def warnings(self):
        return [m for m in self.page.console_messages if m.startswith("warning: ")]

    def shadow(self, js):
        """Evaluate `js` with `root` bound to the widgets' shadow root."""
        return self.page.evaluate(
            f"() => {{ const root = document.querySelector('cohort-widgets').shadowRoot; "
            f"return {js}; }}"
        )

    def identified_profile(self, user_id):
        return Profile.objects.get(site=self.site, user_id=user_id)


@pytest.fixture
def site(live_server, settings):
    settings.COHORT_PUBLIC_BASE_URL = live_server.url
    origin = live_server.url.replace("localhost", "127.0.0.1")
    return SiteFactory(allowed_origins=[live_server.url, origin], user_attributes_enabled=True)


@pytest.fixture
def poll(site):
    """The seed's example: a poll for paying customers who bought more than 10 days ago."""
    widget = widget_save(
        site=site,
        kind=Widget.Kind.POLL,
        name="Paying customers",
        targeting=PAYING_FOR_10_DAYS,
        questions=[
            QuestionSpec(kind="rating", text=HAPPY),
            QuestionSpec(
                kind="single",
                text=IMPROVE,
                choices=("Delivery speed", "Book selection", "Prices"),
            ),
            QuestionSpec(
                kind="multiple",
                text=GENRES,
                choices=("Fiction", "History", "Poetry"),
                required=False,
            ),
            QuestionSpec(kind="text", text=ANYTHING, required=False),
        ],
        thank_you_message=THANKS,
    )
    return widget_activate(widget=widget)


@pytest.fixture
def feedback(site):
    widget = widget_save(
        site=site,
        kind=Widget.Kind.FEEDBACK,
        name="Site feedback",
        targeting={"match": "all", "conditions": []},
        questions=[],
        thank_you_message="Thanks, we read every message.",
    )
    return widget_activate(widget=widget)


@pytest.fixture
def shop(page, live_server, site):
    return Shop(page, live_server, site)


def test_an_anonymous_visitor_is_not_shown_the_targeted_poll(shop, poll):
    decision = shop.open()

    assert shop.offers == [[]]
    assert decision == "info: [cohort] widgets (page loaded): 0 for this visitor"
    assert shop.page.get_by_role("dialog").count() == 0
    assert shop.warnings() == []
    assert shop.errors == []


def test_a_matching_visitor_answers_the_poll_once_with_email_and_consent(shop, site, poll):
    page = shop.open()
    assert shop.offers == [[]]

    # When the visitor logs in as a paying customer of long standing
    shop.call(RACHEL)
    assert shop.wait_for_decision(2) == (
        f"info: [cohort] widgets (attributes changed): 1 for this visitor; poll {poll.pk} shown"
    )

    # Then the poll card appears, one question at a time
    page = shop.page
    card = page.get_by_role("dialog", name=HAPPY)
    card.wait_for()
    assert card.get_by_text("Question 1 of 4").is_visible()

    # The rating is answered with the keyboard: Tab to 4, Enter; Tab to Next, Enter
    card.get_by_role("button", name="1 out of 5").focus()
    for _ in range(3):
        page.keyboard.press("Tab")
    assert shop.shadow("root.activeElement.getAttribute('aria-label')") == "4 out of 5"
    page.keyboard.press("Enter")
    assert card.get_by_role("button", name="4 out of 5").get_attribute("aria-pressed") == "true"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert shop.shadow("root.activeElement.textContent") == "Next"
    page.keyboard.press("Enter")

    # A required question cannot be skipped
    card = page.get_by_role("dialog", name=IMPROVE)
    card.wait_for()
    assert shop.shadow("root.activeElement.value") == "Delivery speed"  # focus moved along
    card.get_by_role("button", name="Next").click()
    assert card.get_by_role("alert").text_content() == "Please answer this question."
    card.get_by_label("Book selection").check()
    card.get_by_role("button", name="Next").click()

    card = page.get_by_role("dialog", name=f"{GENRES} (optional)")
    card.get_by_label("Poetry").check()
    card.get_by_label("Fiction").check()
    card.get_by_role("button", name="Next").click()

    card = page.get_by_role("dialog", name=f"{ANYTHING} (optional)")
    card.get_by_role("textbox", name=ANYTHING).fill("More poetry, please.")
    consent = card.get_by_role("checkbox", name=CONSENT)
    assert not consent.is_checked()

    # An email without the consent is not sent: the visitor is asked to tick the box
    card.get_by_label("Your email (optional)").fill("Rachel@Example.com")
    card.get_by_role("button", name="Submit").click()
    assert card.get_by_role("alert").text_content() == (
        "Tick “Connect my feedback to this email”, or clear the email."
    )
    assert shop.shadow("root.activeElement.type") == "checkbox"
    assert not Response.objects.exists()

    consent.check()
    card.get_by_role("button", name="Submit").click()
    card = page.get_by_role("dialog", name="Answer sent")
    card.get_by_role("status").filter(has_text=THANKS).wait_for()

    # The answer is stored against ABC's profile, with the email and the consent
    [response] = Response.objects.filter(site=site)
    questions = {q.text: str(q.pk) for q in poll.questions.all()}
    assert response.widget_id == poll.pk
    assert response.answers == {
        questions[HAPPY]: 4,
        questions[IMPROVE]: "Book selection",
        questions[GENRES]: ["Fiction", "Poetry"],
        questions[ANYTHING]: "More poetry, please.",
    }
    assert (response.email, response.consent_to_connect) == ("rachel@example.com", True)
    assert response.profile_id == shop.identified_profile("ABC").pk
    visitor = Visitor.objects.get(site=site, visitor_id=page.evaluate("hj.cohort.visitorId"))
    assert response.visitor_id == visitor.pk
    assert response.page_url == f"{shop.origin}/shop/page?cohortDebug=1"

    # The thank-you card closes, and the poll is not offered again
    card.get_by_role("button", name="Close", exact=True).click()
    assert page.get_by_role("dialog").count() == 0
    shop.open()
    assert shop.offers[-1] == []
    assert page.get_by_role("dialog").count() == 0
    assert page.evaluate(f"localStorage.getItem('_cohort_closed_{site.key}')") is None
    assert shop.warnings() == []
    assert shop.errors == []


def test_a_visitor_who_spent_nothing_never_sees_the_poll(shop, site, poll):
    shop.open()

    shop.call("hj('identify', 'ZERO', {total_spend: 0, first_purchase: '2019-06-20Z'})")
    assert shop.wait_for_decision(2) == (
        "info: [cohort] widgets (attributes changed): 0 for this visitor"
    )
    shop.open()

    assert shop.offers == [[], [], []]
    assert shop.page.get_by_role("dialog").count() == 0
    assert shop.identified_profile("ZERO")
    assert not Response.objects.exists()


def test_the_script_and_its_widgets_work_under_a_strict_content_security_policy(
    shop, site, feedback, live_server
):
    """What docs/tracking-script.md asks a page's policy to allow is enough: the stub by
    its nonce, Cohort's origin for the script and its calls, and nothing for styles."""
    shop.csp = (
        f"default-src 'none'; script-src 'nonce-{NONCE}' {live_server.url}; "
        f"connect-src {live_server.url}"
    )
    shop.open()
    shop.page.evaluate("() => hj('identify', 'CSP-1', {plan: 'pro'})")
    shop.wait_for_decision(2)  # asked again once identify was answered

    tab = shop.page.get_by_role("button", name="Feedback", exact=True)
    tab.click()
    panel = shop.page.get_by_role("dialog", name="How would you rate your experience?")
    panel.get_by_role("button", name="Love").click()
    panel.get_by_role("button", name="Send feedback").click()
    panel.get_by_role("status").wait_for()

    assert Response.objects.get(site=site, widget=feedback).emotion == 5
    assert shop.identified_profile("CSP-1").attributes.get().key == "plan"
    assert shop.shadow("getComputedStyle(root.host).position") == "fixed"  # styled
    refused = [m for m in shop.page.console_messages if "Content Security Policy" in m]
    assert refused == []


def test_a_keyboard_user_sends_feedback_and_lands_on_close(shop, site, feedback):
    """Sending disables the button while the answer travels; focus must not fall to the
    page's <body>, or Escape no longer closes the panel."""
    shop.open()
    page = shop.page
    page.get_by_role("button", name="Feedback", exact=True).focus()
    page.keyboard.press("Enter")
    panel = page.get_by_role("dialog", name="How would you rate your experience?")
    panel.get_by_role("button", name="Love").focus()
    page.keyboard.press("Enter")
    panel.get_by_role("button", name="Send feedback").focus()

    page.keyboard.press("Enter")
    panel.get_by_role("status").filter(has_text="Thanks").wait_for()

    assert shop.shadow("root.activeElement && root.activeElement.textContent") == "Close"
    page.keyboard.press("Escape")
    assert panel.is_hidden()
    assert Response.objects.get(site=site, widget=feedback).emotion == 5


def test_the_pages_keyboard_shortcuts_leave_what_a_visitor_types_in_a_widget(shop, site, feedback):
    """Pages test the key's target to skip their shortcuts while someone types in a field;
    events from a shadow root reach them retargeted to <cohort-widgets>."""
    shop.body += (
        "<input id='search' aria-label='Search the shop'>"
        "<script>document.addEventListener('keydown', (e) => {"
        " const t = e.target.tagName; if (t === 'INPUT' || t === 'TEXTAREA') return;"
        " if (e.key === '/' || e.key === 's' || e.key === ' ') {"
        "  e.preventDefault(); document.getElementById('search').focus(); } });"
        "</script>"
    )
    shop.open()
    page = shop.page
    page.get_by_role("button", name="Feedback", exact=True).click()
    panel = page.get_by_role("dialog", name="How would you rate your experience?")
    panel.get_by_role("button", name="Love").click()
    comment = panel.get_by_label("Tell us more (optional)")
    comment.click()

    page.keyboard.type("see docs/faq, it is slow")
    panel.get_by_role("button", name="Send feedback").focus()
    page.keyboard.press("Space")

    panel.get_by_role("status").filter(has_text="Thanks").wait_for()
    assert page.locator("#search").input_value() == ""
    assert Response.objects.get(site=site, widget=feedback).comment == "see docs/faq, it is slow"
    # Outside the widgets the page's shortcuts work as before
    page.locator("h1").click()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "search"


def test_an_answer_sent_offline_asks_the_visitor_to_try_again_at_once(shop, site, feedback):
    """Page visits and identify calls wait for the connection; a visitor watching the
    Send button is told within seconds instead."""
    shop.open()
    page = shop.page
    page.get_by_role("button", name="Feedback", exact=True).click()
    panel = page.get_by_role("dialog", name="How would you rate your experience?")
    panel.get_by_role("button", name="Love").click()
    page.context.set_offline(True)

    panel.get_by_role("button", name="Send feedback").click()

    alert = panel.get_by_role("alert")
    alert.filter(has_text="could not be sent").wait_for(timeout=3000)
    assert panel.get_by_role("button", name="Send feedback").is_enabled()
    page.context.set_offline(False)
    assert not Response.objects.filter(site=site).exists()


def test_incoming_feedback_opens_from_the_side_tab_and_stores_the_emotion(shop, site, feedback):
    shop.open()
    page = shop.page
    tab = page.get_by_role("button", name="Feedback", exact=True)
    assert tab.get_attribute("aria-expanded") == "false"

    # The tab opens the panel with the keyboard, and focus moves into it
    tab.focus()
    page.keyboard.press("Enter")
    panel = page.get_by_role("dialog", name="How would you rate your experience?")
    panel.wait_for()
    assert tab.get_attribute("aria-expanded") == "true"
    assert shop.shadow("root.activeElement.textContent").endswith("Hate")

    # An emotion is required
    panel.get_by_role("button", name="Send feedback").click()
    assert panel.get_by_role("alert").text_content() == "Please choose how you feel."

    panel.get_by_role("button", name="Love").click()
    panel.get_by_label("Tell us more (optional)").fill("  The search is great.  ")
    panel.get_by_role("button", name="Send feedback").click()
    panel.get_by_role("status").filter(has_text="Thanks, we read every message.").wait_for()

    [response] = Response.objects.filter(site=site, widget=feedback)
    assert (response.emotion, response.comment) == (5, "The search is great.")
    assert (response.email, response.consent_to_connect, response.answers) == ("", False, {})
    visitor = Visitor.objects.get(site=site, visitor_id=page.evaluate("hj.cohort.visitorId"))
    assert response.visitor_id == visitor.pk
    assert response.profile_id == visitor.profile_id
    assert visitor.profile.user_id is None

    # Closing returns focus to the tab, which stays for more feedback
    panel.get_by_role("button", name="Close", exact=True).click()
    assert not panel.is_visible()
    assert shop.shadow("root.activeElement.textContent") == "Feedback"
    page.keyboard.press("Enter")
    assert panel.get_by_role("button", name="Send feedback").is_visible()
    page.keyboard.press("Escape")
    assert not panel.is_visible()
    assert tab.get_attribute("aria-expanded") == "false"
    assert shop.errors == []


def answers_routed(shop, handle) -> list[dict]:
    """The bodies of the answers the page sends, in order; `handle(route, n)` answers the
    n-th (from 1) instead of the API."""
    sent = []

    def route_answer(route):
        sent.append(json.loads(route.request.post_data))
        handle(route, len(sent))

    shop.page.route(f"{shop.api}/widgets/*/responses", route_answer)
    return sent


def open_feedback(shop):
    shop.page.get_by_role("button", name="Feedback", exact=True).click()
    return shop.page.get_by_role("dialog", name="How would you rate your experience?")


def stored_then_retry_failed(shop):
    """An answer handler for `answers_routed`: the first copy is stored and its reply
    lost, the automatic retry is answered 503, later copies reach the API."""

    def handle(route, n):
        if n == 1:
            route.fetch()  # stored, and the reply is lost
            route.abort()
        elif n == 2:
            shop.refuse(route, 503, "unavailable", "Try again later.")  # the retry fails too
        else:
            route.continue_()

    return handle


FEEDBACK_THANKS = "Thanks, we read every message."
NOT_SENT = "Your answer could not be sent. Please try again."


def test_an_answer_whose_reply_was_lost_is_sent_again_and_stored_once(shop, site, feedback):
    def lose_the_first_reply(route, n):
        if n == 1:
            route.fetch()  # the API stores the answer, and its reply is lost on the way
            route.abort()
        else:
            route.continue_()

    sent = answers_routed(shop, lose_the_first_reply)
    shop.open()
    panel = open_feedback(shop)
    panel.get_by_role("button", name="Love").click()
    panel.get_by_role("button", name="Send feedback").click()
    panel.get_by_role("status").filter(has_text=FEEDBACK_THANKS).wait_for()

    first, retry = sent
    assert first == retry
    assert re.fullmatch(r"[0-9a-f]{32}", first["answer_id"])
    [stored] = Response.objects.filter(site=site, widget=feedback)
    assert (stored.answer_id, stored.emotion) == (first["answer_id"], 5)
    assert [m for m in shop.page.console_messages if "duplicate" in m]

    # Feedback sent again later is a new answer, with an id of its own
    panel.get_by_role("button", name="Close", exact=True).click()
    open_feedback(shop)
    panel.get_by_role("button", name="Like", exact=True).click()
    panel.get_by_role("button", name="Send feedback").click()
    panel.get_by_role("status").filter(has_text=FEEDBACK_THANKS).wait_for()
    assert len(sent) == 3
    assert sent[2]["answer_id"] != first["answer_id"]
    assert sorted(Response.objects.filter(widget=feedback).values_list("emotion", flat=True)) == [
        4,
        5,
    ]
    assert shop.errors == []


def test_the_same_answer_sent_again_after_the_retry_failed_keeps_its_answer_id(
    shop, site, feedback
):
    sent = answers_routed(shop, stored_then_retry_failed(shop))
    shop.open()
    panel = open_feedback(shop)
    panel.get_by_role("button", name="Love").click()
    panel.get_by_role("textbox", name="Tell us more (optional)").fill("Fast checkout")
    panel.get_by_role("button", name="Send feedback").click()
    panel.get_by_role("alert").filter(has_text=NOT_SENT).wait_for()

    # The visitor moves on to another page of the app, where the tab is offered too, and
    # sends the same answer again: the API finds it stored under its id
    shop.page.evaluate("history.pushState({}, '', '/shop/reviews')")
    shop.wait_for_decision(2)
    panel.get_by_role("button", name="Send feedback").click()
    panel.get_by_role("status").filter(has_text=FEEDBACK_THANKS).wait_for()
    assert len(sent) == 3
    assert sent[0] == sent[1]
    assert sent[2]["url"] == f"{shop.origin}/shop/reviews"
    assert {**sent[2], "url": sent[0]["url"]} == sent[0]
    [stored] = Response.objects.filter(site=site, widget=feedback)
    assert (stored.answer_id, stored.comment) == (sent[0]["answer_id"], "Fast checkout")
    assert shop.errors == []


def test_the_same_answer_sent_again_after_a_reload_keeps_its_answer_id(shop, site, feedback):
    def answer_fast_checkout():
        panel = open_feedback(shop)
        panel.get_by_role("button", name="Love").click()
        panel.get_by_role("textbox", name="Tell us more (optional)").fill("Fast checkout")
        panel.get_by_label("Your email (optional)").fill("ann@example.com")
        panel.get_by_role("checkbox", name=CONSENT).check()
        panel.get_by_role("button", name="Send feedback").click()
        return panel

    kept = f"sessionStorage.getItem('_cohort_unsettled_{site.key}')"
    sent = answers_routed(shop, stored_then_retry_failed(shop))
    shop.open()
    answer_fast_checkout().get_by_role("alert").filter(has_text=NOT_SENT).wait_for()
    # The tab remembers the id, not the words or the email of the answer
    remembered = shop.page.evaluate(kept)
    assert sent[0]["answer_id"] in remembered
    assert "Fast checkout" not in remembered
    assert "ann@example.com" not in remembered

    # The visitor reloads the page and sends the same answer again
    shop.page.reload()
    panel = answer_fast_checkout()
    panel.get_by_role("status").filter(has_text=FEEDBACK_THANKS).wait_for()
    assert len(sent) == 3
    assert sent[2]["answer_id"] == sent[0]["answer_id"]
    [stored] = Response.objects.filter(site=site, widget=feedback)
    assert (stored.answer_id, stored.email) == (sent[0]["answer_id"], "ann@example.com")
    # Settled: nothing left to remember
    assert json.loads(shop.page.evaluate(kept)) == []
    assert shop.errors == []


def test_each_unanswered_answer_keeps_its_id_and_a_changed_one_gets_a_new_id(shop, site, feedback):
    def unreachable_four_times(route, n):
        if n <= 4:
            route.abort()
        else:
            route.continue_()

    sent = answers_routed(shop, unreachable_four_times)
    shop.open()
    panel = open_feedback(shop)
    not_sent = panel.get_by_role("alert").filter(has_text=NOT_SENT)
    panel.get_by_role("button", name="Love").click()
    panel.get_by_role("button", name="Send feedback").click()
    not_sent.wait_for()
    assert len(sent) == 2

    # A changed answer is another answer
    panel.get_by_role("button", name="Like", exact=True).click()
    panel.get_by_role("button", name="Send feedback").click()
    not_sent.wait_for()
    assert len(sent) == 4

    # Back to the first answer: it keeps the id it was first sent with
    panel.get_by_role("button", name="Love").click()
    panel.get_by_role("button", name="Send feedback").click()
    panel.get_by_role("status").filter(has_text=FEEDBACK_THANKS).wait_for()
    assert len(sent) == 5
    love, like = sent[0]["answer_id"], sent[2]["answer_id"]
    assert [body["answer_id"] for body in sent] == [love, love, like, like, love]
    assert love != like
    [stored] = Response.objects.filter(site=site, widget=feedback)
    assert (stored.answer_id, stored.emotion) == (love, 5)
    assert shop.errors == []


def test_an_answer_id_refused_as_taken_asks_to_send_again_with_a_new_id(shop, site, feedback):
    def refuse_the_first_id(route, n):
        if n == 1:
            shop.refuse(route, 409, "answer_id_conflict", "Send a new one.")
        else:
            route.continue_()

    sent = answers_routed(shop, refuse_the_first_id)
    shop.open()
    panel = open_feedback(shop)
    panel.get_by_role("button", name="Love").click()
    panel.get_by_role("button", name="Send feedback").click()
    panel.get_by_role("alert").filter(has_text=NOT_SENT).wait_for()

    panel.get_by_role("button", name="Send feedback").click()
    panel.get_by_role("status").filter(has_text=FEEDBACK_THANKS).wait_for()
    assert len(sent) == 2
    assert sent[0]["answer_id"] != sent[1]["answer_id"]
    [stored] = Response.objects.filter(site=site, widget=feedback)
    assert stored.answer_id == sent[1]["answer_id"]


def test_host_page_css_does_not_reach_the_widgets_and_ours_does_not_leak(shop, site, feedback):
    shop.head = (
        "<style>"
        "body * { display: none !important; }"
        "button { color: rgb(255, 0, 0) !important; background: yellow !important; }"
        "* { font-size: 40px !important; font-family: serif !important; }"
        "</style>"
    )
    shop.open()

    tab = shop.page.get_by_role("button", name="Feedback", exact=True)
    assert tab.is_visible()
    styles = shop.shadow(
        "(() => { const s = getComputedStyle(root.querySelector('.tab'));"
        " return [s.color, s.backgroundColor, s.fontSize, s.display]; })()"
    )
    assert styles == ["rgb(255, 255, 255)", "rgb(67, 56, 202)", "14px", "block"]
    tab.click()
    send = shop.page.get_by_role("button", name="Send feedback")
    assert send.is_visible()
    assert send.evaluate("b => getComputedStyle(b).color") == "rgb(255, 255, 255)"

    # Our `.primary` rule stays inside the shadow root
    page_button = shop.page.evaluate(
        "getComputedStyle(document.querySelector('body > button.primary')).backgroundColor"
    )
    assert page_button == "rgb(255, 255, 0)"
    assert shop.errors == []


def test_a_pages_backdrop_rule_for_its_dialogs_never_covers_it_for_ours(shop, site, poll):
    """Shown in the top layer, our element has a ::backdrop of its own."""
    shop.head = "<style>::backdrop { background: rgb(255, 0, 0) }</style>"
    shop.open()
    shop.call(RACHEL)
    shop.page.get_by_role("dialog", name=HAPPY).wait_for()

    backdrop = shop.page.evaluate(
        "getComputedStyle(document.querySelector('cohort-widgets'), '::backdrop').display"
    )

    assert backdrop == "none"
    assert shop.errors == []


@pytest.mark.parametrize(
    "rule", ["transform: translateZ(0)", "filter: saturate(1.01)", "contain: paint"]
)
def test_the_widgets_stay_on_screen_when_the_page_transforms_its_body(
    shop, site, poll, feedback, rule
):
    """Such a <body> would hold `position: fixed` to the document, not the viewport: the
    widgets would sit at the end of a long page, where nobody sees them."""
    shop.head = f"<style>body {{ {rule}; min-height: 3000px; margin: 0 }}</style>"
    shop.body += (
        "<script>document.querySelector('.primary').onclick = () => { window.bought = 1 }</script>"
    )
    shop.page.set_viewport_size({"width": 1280, "height": 720})
    shop.open()
    shop.call(RACHEL)
    card = shop.page.get_by_role("dialog", name=HAPPY)
    card.wait_for()
    tab = shop.page.get_by_role("button", name="Feedback", exact=True)

    for widget in (card, tab):
        box = widget.bounding_box()
        assert min(box["x"], box["y"]) >= 0, box
        assert box["x"] + box["width"] <= 1280, box
        assert box["y"] + box["height"] <= 720, box
    # The page underneath stays usable
    shop.page.get_by_role("button", name="Buy").click()
    assert shop.page.evaluate("window.bought") == 1
    assert shop.errors == []


def test_escape_closes_the_poll_in_this_browser_for_good(shop, site, poll):
    shop.open()
    shop.call(RACHEL)
    shop.call(RACHEL)  # a second identify soon after: still one card
    decision = shop.wait_for_decision(2)
    assert decision.endswith(f"poll {poll.pk} shown")
    card = shop.page.get_by_role("dialog", name=HAPPY)
    card.wait_for()
    shop.page.wait_for_timeout(600)  # past the debounce of the second call
    assert shop.page.get_by_role("dialog").count() == 1

    card.get_by_role("button", name="3 out of 5").focus()
    shop.page.keyboard.press("Escape")

    assert shop.page.get_by_role("dialog").count() == 0
    assert shop.page.evaluate(f"localStorage.getItem('_cohort_closed_{site.key}')") == (
        json.dumps([poll.pk], separators=(",", ":"))
    )
    decision = shop.open()
    assert [w["id"] for w in shop.offers[-1]] == [poll.pk]  # still offered by the API
    assert decision.endswith("was closed earlier in this browser")
    assert shop.page.get_by_role("dialog").count() == 0
    assert not Response.objects.exists()

    # Another tab, or a visit after the browser was closed, keeps it closed
    shop.page.evaluate("sessionStorage.clear()")
    decision = shop.open()
    assert decision.endswith("was closed earlier in this browser")
    assert shop.page.get_by_role("dialog").count() == 0

    # Only the browser's storage cleared shows it again
    shop.page.evaluate("localStorage.clear()")
    shop.open()
    shop.page.get_by_role("dialog", name=HAPPY).wait_for()
    assert shop.errors == []


def test_the_close_button_works_and_the_poll_shows_on_the_matching_page_only(shop, site, poll):
    poll.url_contains = "/checkout"
    poll.save(update_fields=["url_contains"])
    live_widgets_forget(site_id=site.pk)
    shop.open()
    shop.call(RACHEL)
    assert shop.wait_for_decision(2).endswith(": 0 for this visitor")

    shop.page.goto(f"{shop.origin}/shop/checkout?cohortDebug=1")
    card = shop.page.get_by_role("dialog", name=HAPPY)
    card.wait_for()
    card.get_by_role("button", name="Close poll").click()
    assert shop.page.get_by_role("dialog").count() == 0
    assert shop.errors == []


def test_widget_failures_are_silent_outside_debug_mode(shop, site, poll, feedback):
    attempts = []

    def unavailable(route):
        attempts.append(route.request.method)
        shop.refuse(route, 500, "error", "Down.")

    # A broken decision: nothing shown, nothing said
    shop.page.route(f"{shop.api}/widgets?*", unavailable)
    shop.open(debug=False)
    deadline = time.monotonic() + 10
    while len(attempts) < 2:  # the retry comes 500 ms after the first
        assert time.monotonic() < deadline, attempts
        shop.page.wait_for_timeout(50)
    shop.page.wait_for_timeout(300)  # and nothing after it
    assert attempts == ["GET", "GET"]
    assert shop.page.get_by_role("button", name="Feedback", exact=True).count() == 0
    shop.page.unroute(f"{shop.api}/widgets?*")

    # A broken answer: the visitor is told, the console stays quiet
    shop.page.route(f"{shop.api}/widgets/*/responses", unavailable)
    shop.open(debug=False)
    shop.page.get_by_role("button", name="Feedback", exact=True).click()
    shop.page.get_by_role("button", name="Like", exact=True).click()
    shop.page.get_by_role("button", name="Send feedback").click()
    shop.page.get_by_role("alert").filter(
        has_text="Your answer could not be sent. Please try again."
    ).wait_for()
    assert not Response.objects.exists()
    assert shop.warnings() == []
    assert [m for m in shop.page.console_messages if "[cohort]" in m] == []
    assert shop.errors == []


def test_the_demo_page_shows_the_poll_once_rachel_logs_in(page, live_server, site, poll):
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server.url, MembershipFactory(account=site.account, role="owner").user)
    page.goto(f"{live_server.url}/demo/{site.key}/?cohortDebug=1")
    decisions = page.locator("#widget-response")
    decisions.filter(has_text="none for this visitor").wait_for()
    assert page.get_by_role("dialog").count() == 0

    page.get_by_role("button", name="Log in as Rachel").click()

    card = page.get_by_role("dialog", name=HAPPY)
    card.wait_for()
    assert decisions.text_content() == f"widgets → 200\npoll {poll.pk}"
    card.get_by_role("button", name="5 out of 5").click()
    card.get_by_role("button", name="Next").click()
    card = page.get_by_role("dialog", name=IMPROVE)
    card.get_by_label("Prices").check()
    card.get_by_role("button", name="Next").click()
    card = page.get_by_role("dialog", name=f"{GENRES} (optional)")
    card.get_by_role("button", name="Next").click()
    card = page.get_by_role("dialog", name=f"{ANYTHING} (optional)")
    card.get_by_role("button", name="Submit").click()
    card = page.get_by_role("dialog", name="Answer sent")
    card.get_by_role("status").filter(has_text=THANKS).wait_for()

    [response] = Response.objects.filter(site=site, widget=poll)
    assert response.profile.user_id == "ABC"
    assert (response.email, response.consent_to_connect) == ("", False)
    assert errors == []

    # The shop remembers its log-in for the tab, as a shop does: a reload greets Rachel
    page.reload()
    assert page.locator("#greeting").text_content() == "Hello, Rachel"
    assert page.locator("#login-button").text_content() == "Logged in as Rachel"


def test_a_poll_that_stops_matching_goes_away_unless_the_visitor_is_answering(shop, poll):
    shop.open()
    shop.call(RACHEL)
    card = shop.page.get_by_role("dialog", name=HAPPY)
    card.wait_for()

    # New attributes no longer match: the untouched card goes away
    shop.call("hj('identify', 'ABC', {total_spend: 0})")
    assert shop.wait_for_decision(3).endswith(
        f"0 for this visitor; widget {poll.pk} hidden: no longer meant for this visitor"
    )
    assert shop.page.get_by_role("dialog").count() == 0

    # Matching again, it comes back; once the visitor has started, it stays
    shop.call("hj('identify', 'ABC', {total_spend: 10})")
    card.wait_for()
    card.get_by_role("button", name="2 out of 5").click()
    shop.call("hj('identify', 'ABC', {total_spend: 0})")
    assert shop.wait_for_decision(5) == (
        "info: [cohort] widgets (attributes changed): 0 for this visitor"
    )
    assert card.is_visible()
    assert shop.errors == []


# A tap anywhere on `el` (its middle, and each corner 2 px in) lands on `el` itself.
TAPPED = """(el) => {
  const box = el.getBoundingClientRect();
  const xs = [box.left + 2, box.left + box.width / 2, box.right - 2];
  const ys = [box.top + 2, box.top + box.height / 2, box.bottom - 2];
  return xs.every((x) => ys.every((y) => {
    const hit = el.getRootNode().elementFromPoint(x, y);
    return hit === el || el.contains(hit);
  }));
}"""


@pytest.mark.parametrize("height", [480, 560, 640])
def test_on_a_phone_the_poll_and_the_feedback_tab_never_cover_each_others_buttons(
    shop, site, poll, feedback, height
):
    shop.page.set_viewport_size({"width": 360, "height": height})
    shop.open()
    shop.call(RACHEL)
    shop.page.get_by_role("dialog", name=HAPPY).wait_for()
    # The next page shows both at once, the poll first (the older widget)
    shop.open()
    card = shop.page.get_by_role("dialog", name=HAPPY)
    card.wait_for()
    assert shop.page.get_by_role("button", name="Feedback", exact=True).is_visible()

    for name in ["Close poll", "1 out of 5", "5 out of 5"]:
        assert card.get_by_role("button", name=name).evaluate(TAPPED), name
    card.get_by_role("button", name="Close poll").click(trial=True, timeout=2_000)

    # Once the poll is closed, the tab is there to tap
    card.get_by_role("button", name="Close poll").click()
    tab = shop.page.get_by_role("button", name="Feedback", exact=True)
    assert tab.evaluate(TAPPED)
    panel = open_feedback(shop)
    assert panel.get_by_role("button", name="Close feedback").evaluate(TAPPED)
    assert shop.errors == []


@pytest.mark.parametrize(
    "size", [(568, 320), (740, 360), (1280, 720)], ids=["landscape-phone", "landscape", "laptop"]
)
def test_where_there_is_room_the_poll_leaves_the_feedback_tab_free(
    shop, site, poll, feedback, size
):
    width, height = size
    shop.page.set_viewport_size({"width": width, "height": height})
    shop.open()
    shop.call(RACHEL)
    card = shop.page.get_by_role("dialog", name=HAPPY)
    card.wait_for()
    tab = shop.page.get_by_role("button", name="Feedback", exact=True)

    assert tab.evaluate(TAPPED)
    assert card.get_by_role("button", name="Close poll").evaluate(TAPPED)
    tab.click()
    assert shop.page.get_by_role("dialog", name="How would you rate your experience?").is_visible()
    assert shop.errors == []


def test_without_a_tab_the_poll_sits_in_the_corner(shop, site, poll):
    shop.page.set_viewport_size({"width": 1280, "height": 720})
    shop.open()
    shop.call(RACHEL)
    card = shop.page.get_by_role("dialog", name=HAPPY)
    card.wait_for()

    box = card.bounding_box()
    assert 1280 - (box["x"] + box["width"]) == 16


def test_a_single_page_app_moving_to_another_page_gets_that_pages_widgets(shop, site):
    """The app changes its URL with history.pushState: the tab meant for /checkout
    appears there, and an answer begun there and sent after the app moved on is stored
    as given on /checkout, where the tab was meant to be."""
    checkout = widget_save(
        site=site,
        kind=Widget.Kind.FEEDBACK,
        name="Checkout feedback",
        targeting={"match": "all", "conditions": []},
        questions=[],
        url_contains="/checkout",
    )
    widget_activate(widget=checkout)
    shop.open()
    page = shop.page
    tab = page.get_by_role("button", name="Feedback", exact=True)
    assert shop.offers == [[]]

    page.evaluate("history.pushState({}, '', '/shop/checkout?step=1')")
    tab.wait_for()
    assert shop.wait_for_decision(2).endswith(f"feedback {checkout.pk} shown")

    tab.click()
    panel = page.get_by_role("dialog", name="How would you rate your experience?")
    panel.get_by_role("button", name="Like", exact=True).click()
    page.evaluate("history.pushState({}, '', '/shop/thanks')")
    shop.wait_for_decision(3)
    panel.get_by_role("button", name="Send feedback").click()
    panel.get_by_role("status").wait_for()

    [response] = Response.objects.filter(site=site, widget=checkout)
    assert (response.emotion, response.page_url) == (4, f"{shop.origin}/shop/checkout?step=1")
    # each page the app moved to is a page visit of the same session
    visitor = Visitor.objects.get(site=site, visitor_id=page.evaluate("hj.cohort.visitorId"))
    [session] = visitor.sessions.all()
    assert session.page_count == 3
    assert session.last_url == f"{shop.origin}/shop/thanks"

    # An anchor on the same page is no new page; the back button is
    page.evaluate("location.hash = 'top'")
    page.go_back()
    page.go_back()
    shop.wait_for_decision(4)
    session.refresh_from_db()
    assert session.page_count == 4

    # A router that pushes on every keystroke makes one page visit, once the URL settles,
    # and the visitor's activity keeps the session going
    seen = f"JSON.parse(sessionStorage.getItem('_cohort_sid_{site.key}')).seen"
    before = page.evaluate(seen)
    page.evaluate("for (let i = 0; i < 50; i++) history.pushState({}, '', '/shop/s?q=' + i)")
    shop.wait_for_decision(5)
    session.refresh_from_db()
    assert (session.page_count, session.last_url) == (5, f"{shop.origin}/shop/s?q=49")
    assert page.evaluate(seen) > before
    assert shop.warnings() == []


def test_a_feedback_tab_whose_answer_was_sent_goes_when_the_app_leaves_its_pages(shop, site):
    """A tab keeps its place on a page it is no longer meant for only while the visitor has
    an answer under way; once sent, the comment that was in it does not count as one."""
    help_feedback = widget_save(
        site=site,
        kind=Widget.Kind.FEEDBACK,
        name="Help feedback",
        targeting={"match": "all", "conditions": []},
        questions=[],
        url_contains="/help",
    )
    widget_activate(widget=help_feedback)
    shop.open()
    page = shop.page
    page.evaluate("history.pushState({}, '', '/shop/help')")
    assert shop.wait_for_decision(2).endswith(f"feedback {help_feedback.pk} shown")

    # Given an answer with a comment sent on /shop/help, and the panel closed
    page.get_by_role("button", name="Feedback", exact=True).click()
    panel = page.get_by_role("dialog", name="How would you rate your experience?")
    panel.get_by_role("button", name="Like", exact=True).click()
    panel.get_by_label("Tell us more (optional)").fill("Found it.")
    panel.get_by_role("button", name="Send feedback").click()
    panel.get_by_role("status").wait_for()
    panel.get_by_role("button", name="Close", exact=True).click()

    # When the app moves to a page the widget is not meant for
    page.evaluate("history.pushState({}, '', '/shop/checkout')")

    # Then the tab goes
    assert shop.wait_for_decision(3).endswith(
        f"widget {help_feedback.pk} hidden: no longer meant for this visitor"
    )
    assert shop.shadow("root.querySelector('.tab')") is None
    assert Response.objects.filter(widget=help_feedback).count() == 1
    assert shop.errors == []


def test_a_single_page_app_left_idle_for_30_minutes_starts_a_new_session(shop, site):
    """A page that never reloads: the app's next move after half an hour without activity
    is a page visit of a new session; a move before that continues the session."""
    shop.open()
    page = shop.page
    first = page.evaluate("hj.cohort.sessionId")
    page.evaluate("history.pushState({}, '', '/shop/a')")
    shop.wait_for_decision(2)
    assert page.evaluate("hj.cohort.sessionId") == first

    page.evaluate("const now = Date.now; Date.now = () => now() + 31 * 60 * 1000;")
    page.evaluate("history.pushState({}, '', '/shop/b')")
    shop.wait_for_decision(3)

    second = page.evaluate("hj.cohort.sessionId")
    assert second != first
    visitor = Visitor.objects.get(site=site, visitor_id=page.evaluate("hj.cohort.visitorId"))
    sessions = {s.session_key: (s.page_count, s.last_url) for s in visitor.sessions.all()}
    assert sessions == {
        first: (2, f"{shop.origin}/shop/a"),
        second: (1, f"{shop.origin}/shop/b"),
    }
    stored = page.evaluate(f"JSON.parse(sessionStorage.getItem('_cohort_sid_{site.key}')).id")
    assert stored == second  # a reload continues the new session


@pytest.fixture
def open_poll(site):
    """A poll for every visitor: a rating, then a choice among long words."""
    widget = widget_save(
        site=site,
        kind=Widget.Kind.POLL,
        name="Everyone",
        targeting={"match": "all", "conditions": []},
        questions=[
            QuestionSpec(kind="rating", text=HAPPY),
            QuestionSpec(
                kind="single",
                text="Haben Sie https://www.example-shop.de/kundenservice/versandkosten benutzt?",
                choices=("Rechtsschutzversicherungsgesellschaften", "Nein"),
            ),
        ],
    )
    return widget_activate(widget=widget)


def test_a_poll_waits_under_a_modal_dialog_the_page_opened_first(shop, open_poll):
    """Shown over the page's open modal dialog, the card would be drawn on top while the
    dialog keeps it inert: a click on its button would go to the dialog's button under
    it. It waits under the dialog, like the rest of the page, and comes up once it closes."""
    shop.body += (
        "<dialog id='consent'>We use cookies. <button id='accept'>Accept all</button></dialog>"
        "<script>document.getElementById('consent').showModal();"
        "document.getElementById('accept').onclick = () => consent.close();</script>"
    )
    shop.open()
    shop.page.get_by_role("dialog", name=HAPPY).wait_for(state="attached")
    on_top = "document.querySelector('cohort-widgets').matches(':popover-open')"
    assert shop.page.evaluate(on_top) is False

    shop.page.locator("#accept").click()

    shop.page.wait_for_function(on_top)
    shop.page.get_by_role("dialog", name=HAPPY).get_by_role("button", name="4").click()
    assert shop.shadow("root.querySelector('[aria-pressed=true]').textContent") == "4"


def test_long_words_in_a_question_and_its_choices_wrap_in_the_card(shop, open_poll):
    shop.page.set_viewport_size({"width": 320, "height": 568})
    shop.open()
    card = shop.page.get_by_role("dialog", name=HAPPY)
    card.get_by_role("button", name="4").click()
    card.get_by_role("button", name="Next").click()
    shop.page.get_by_label("Rechtsschutzversicherungsgesellschaften").wait_for()

    sizes = shop.shadow(
        "[root.querySelector('.card').scrollWidth, root.querySelector('.card').clientWidth]"
    )
    assert sizes[0] <= sizes[1]


def test_the_widgets_own_words_are_english_and_the_customers_in_the_pages_language(shop, open_poll):
    """On a German page "Next" is spoken as English and the question as German; a
    customer's text takes its direction from itself (an Arabic question on a
    left-to-right page reads right to left)."""
    shop.lang = "de"
    shop.open()
    card = shop.page.get_by_role("dialog", name=HAPPY)

    assert card.get_by_role("button", name="Next").evaluate("el => el.matches(':lang(en)')")
    title = card.get_by_role("heading", name=HAPPY)
    assert title.evaluate("el => el.matches(':lang(de)') && el.dir === 'auto'")
    card.get_by_role("button", name="4").click()
    card.get_by_role("button", name="Next").click()
    choice = shop.page.get_by_text("Rechtsschutzversicherungsgesellschaften")
    assert choice.evaluate("el => el.matches(':lang(de)') && el.dir === 'auto'")
    assert shop.shadow("getComputedStyle(root.querySelector('.w')).textAlign") == "start"


def test_closing_a_poll_gives_the_keyboard_back_where_it_was(shop, open_poll):
    shop.open()
    card = shop.page.get_by_role("dialog", name=HAPPY)
    buy = shop.page.get_by_role("button", name="Buy")
    buy.focus()
    shop.page.keyboard.press("Tab")  # into the card, the page's last focusable thing before
    assert shop.shadow("root.activeElement !== null")

    shop.page.keyboard.press("Escape")

    card.wait_for(state="detached")
    assert buy.evaluate("el => el === document.activeElement")


def test_the_chosen_rating_shows_in_forced_colours(shop, open_poll):
    shop.page.emulate_media(forced_colors="active")
    shop.open()
    card = shop.page.get_by_role("dialog", name=HAPPY)
    card.get_by_role("button", name="4").click()

    colours = shop.shadow(
        "Array.from(root.querySelectorAll('.scale button'))"
        ".map((b) => getComputedStyle(b).backgroundColor)"
    )
    assert colours[3] != colours[2]


def test_a_second_sites_snippet_on_the_page_is_named_as_ignored(shop, site, live_server):
    other = SiteFactory(allowed_origins=list(site.allowed_origins))
    shop.head = f'<script async src="{live_server.url}/t/{other.key}.js"></script>'
    # Either script may load first: no waiting for this site's widget decision.
    shop.open(debug=False)
    running = shop.page.evaluate("hj.cohort.siteKey")
    ignored = other.key if running == site.key else site.key

    deadline = time.monotonic() + 10
    while not [w for w in shop.warnings() if "is ignored" in w]:
        assert time.monotonic() < deadline, shop.warnings()
        shop.page.wait_for_timeout(50)
    [warning] = [w for w in shop.warnings() if "is ignored" in w]
    assert f"site {ignored}'s tracking script is ignored: site {running}'s runs" in warning


ON_TOP = "document.querySelector('cohort-widgets').matches(':popover-open')"


def test_a_poll_waits_under_a_modal_dialog_in_a_components_shadow_root(shop, open_poll):
    shop.body += (
        "<consent-box id='box'></consent-box><script>"
        "const r = box.attachShadow({mode: 'open'});"
        "r.innerHTML = `<dialog id='d'>Cookies <button id='ok'>OK</button></dialog>`;"
        "r.getElementById('ok').onclick = () => r.getElementById('d').close();"
        "r.getElementById('d').showModal();</script>"
    )
    shop.open()
    shop.page.get_by_role("dialog", name=HAPPY).wait_for(state="attached")
    assert shop.page.evaluate(ON_TOP) is False

    shop.page.locator("consent-box").get_by_role("button", name="OK").click()

    shop.page.wait_for_function(ON_TOP)


def test_a_poll_comes_up_when_the_modal_dialog_is_removed_rather_than_closed(shop, open_poll):
    """A framework that unmounts the dialog fires no `close`."""
    shop.body += (
        "<dialog id='consent'><button id='accept'>OK</button></dialog>"
        "<script>consent.showModal(); accept.onclick = () => consent.remove();</script>"
    )
    shop.open()
    shop.page.get_by_role("dialog", name=HAPPY).wait_for(state="attached")
    assert shop.page.evaluate(ON_TOP) is False

    shop.page.locator("#accept").click()

    shop.page.wait_for_function(ON_TOP)


def test_closing_a_poll_by_mouse_leaves_the_page_where_it_is(shop, open_poll):
    shop.body = "<input id='q'>" + "<p>filler</p>" * 300
    shop.open()
    card = shop.page.get_by_role("dialog", name=HAPPY)
    shop.page.locator("#q").click()
    shop.page.keyboard.type("novels")
    shop.page.mouse.wheel(0, 5000)
    shop.page.wait_for_function("window.scrollY > 1000")
    scrolled = shop.page.evaluate("window.scrollY")

    card.get_by_role("button", name="4").click()
    card.get_by_role("button", name="Close poll").click()

    card.wait_for(state="detached")
    assert shop.page.evaluate("window.scrollY") == scrolled
    assert shop.page.evaluate("document.activeElement.id") != "q"


def test_a_poll_set_to_german_speaks_german_around_the_customers_questions(shop, site):
    widget = widget_save(
        site=site,
        kind=Widget.Kind.POLL,
        name="Umfrage",
        targeting={"match": "all", "conditions": []},
        questions=[
            QuestionSpec(kind="rating", text="Wie zufrieden sind Sie?"),
            QuestionSpec(kind="text", text="Was fehlt?", required=False),
        ],
        language="de",
    )
    widget_activate(widget=widget)
    shop.lang = "de"
    shop.open()
    card = shop.page.get_by_role("dialog", name="Wie zufrieden sind Sie?")
    card.wait_for()

    assert card.get_by_text("Frage 1 von 2").is_visible()
    assert shop.shadow("root.querySelector('section.card').getAttribute('lang')") == "de"
    card.get_by_role("button", name="Umfrage schließen").wait_for()
    card.get_by_role("button", name="4 von 5").click()
    card.get_by_role("button", name="Weiter").click()
    card = shop.page.get_by_role("dialog", name="Was fehlt? (optional)")
    card.get_by_label("Ihre E-Mail-Adresse (optional)").fill("anna@example.de")
    card.get_by_role("button", name="Absenden").click()

    assert card.get_by_role("alert").inner_text() == (
        "Setzen Sie das Häkchen bei „Mein Feedback mit dieser E-Mail-Adresse verknüpfen“, "
        "oder löschen Sie die E-Mail-Adresse."
    )
    card.get_by_label("Mein Feedback mit dieser E-Mail-Adresse verknüpfen").check()
    card.get_by_role("button", name="Absenden").click()
    sent = shop.page.get_by_role("dialog", name="Antwort gesendet")
    sent.get_by_role("status").filter(has_text="Vielen Dank für Ihr Feedback!").wait_for()
    assert Response.objects.get(widget=widget).email == "anna@example.de"


def test_a_feedback_tab_set_to_french_names_its_feelings_in_french(shop, site):
    widget = widget_save(
        site=site,
        kind=Widget.Kind.FEEDBACK,
        name="Avis",
        targeting={"match": "all", "conditions": []},
        questions=[],
        language="fr",
    )
    widget_activate(widget=widget)
    shop.open()

    shop.page.get_by_role("button", name="Votre avis", exact=True).click()
    panel = shop.page.get_by_role("dialog", name="Comment évaluez-vous votre expérience\u202f?")
    panel.get_by_role("button", name="Envoyer mon avis").click()

    assert panel.get_by_role("alert").inner_text() == "Veuillez indiquer ce que vous en pensez."
    panel.get_by_role("button", name=WIDGET_TEXTS["fr"]["emotion_5"]).click()
    panel.get_by_role("button", name="Envoyer mon avis").click()
    panel.get_by_role("status").filter(has_text="Merci pour votre avis").wait_for()
    assert Response.objects.get(widget=widget).emotion == 5
    # the default thank-you is the widget's own French, not the English page's text
    assert shop.shadow("root.querySelector('.panel .thanks').getAttribute('lang')") == "fr"
