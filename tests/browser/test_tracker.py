"""The tracking script in Chromium against the real API on a live server.

The customer's shop is a page on another origin (127.0.0.1 instead of localhost, same
port) whose HTML Playwright serves, so every call is a real cross-origin request with a
CORS preflight. The script and the API are the live server's.
"""

import json
import re
import time
from datetime import UTC, datetime

import pytest

from apps.identity.models import ProcessedMessage, Profile, Session, Visitor
from apps.user_attributes.models import AttributeValue
from tests.browser.accounts import log_in
from tests.browser.shop import QUEUE_STUB, STUB, CustomerPage
from tests.factories import MembershipFactory, SiteFactory

pytestmark = pytest.mark.django_db(transaction=True)

HEX32 = re.compile(r"^[0-9a-f]{32}$")
RACHEL = (
    "hj('identify', 'ABC', {email: 'rachel@example.com', total_spend: 500, "
    "first_purchase: new Date(Date.UTC(2019, 5, 20)), newsletter: true})"
)


# Another script that defines hj() as Hotjar's does: it takes the calls the stub queued,
# assigns its own function, and replays them through window.hj.
OTHER_HJ = """
  window.otherCalls = [];
  (function () {
    const queued = (window.hj && window.hj.q) || [];
    window.hj = (...args) => { otherCalls.push(args); };
    queued.forEach((args) => window.hj.apply(null, args));
  })();
"""


class Shop(CustomerPage):
    """A customer's page on its own origin, and the API calls the script makes from it."""

    def __init__(self, page, live_server, site):
        self.calls: list[dict] = []
        super().__init__(page, live_server, site)

    def _serve(self, route):
        # /shop/installed: the install snippet as customers paste it.
        # /shop/stub-only: the stub alone; the test adds the script tag when it wants.
        # /shop/old-stub-only: the same with the stub of snippets installed before it kept
        # a second reference to its queue.
        # /shop/own-hj: the page defines its own hj() before the snippet (as Hotjar does).
        # /shop/other-first: the snippet and a call, then a script sharing the stub that
        # takes its queue and assigns its own hj() before Cohort's loads (Hotjar's can).
        snippet = f"<script>{STUB}</script>"
        if "/shop/old-stub-only" in route.request.url:
            snippet = f"<script>{QUEUE_STUB}</script>"
        if "/shop/own-hj" in route.request.url:
            own = "window.pageCalls = []; window.hj = (...args) => { pageCalls.push(args); };"
            snippet = (
                f'<script>{own}</script>{snippet}<script async src="{self.script_url}"></script>'
            )
        if "/shop/other-first" in route.request.url:
            snippet = (
                f"<script>{STUB}hj('identify', 'ABC', {{plan: 'pro'}});</script>"
                f"<script>{OTHER_HJ}</script>"
                f'<script async src="{self.script_url}"></script>'
            )
        if "/shop/installed" in route.request.url:
            snippet += f'<script async src="{self.script_url}"></script>'
        body = f"<!doctype html><html><head>{snippet}</head><body><h1>Shop</h1></body></html>"
        route.fulfill(status=200, content_type="text/html", body=body)

    def _record(self, response):
        request = response.request
        if request.method == "POST" and request.url.startswith(self.api):
            self.calls.append(
                {
                    "endpoint": request.url.rsplit("/", 1)[1],
                    "status": response.status,
                    "body": json.loads(request.post_data),
                    "type": request.headers.get("content-type"),
                }
            )

    def open(self, path="installed", query=""):
        self.page.goto(f"{self.origin}/shop/{path}{query}")

    def load_script(self):
        self.page.add_script_tag(url=self.script_url)
        return self.page.wait_for_function("window.hj && window.hj.cohort").json_value()

    def wait_for_calls(self, count, timeout=10.0):
        deadline = time.monotonic() + timeout
        while len(self.calls) < count:
            assert time.monotonic() < deadline, f"expected {count} API calls, got {self.calls}"
            self.page.wait_for_timeout(50)
        self.page.wait_for_timeout(200)  # nothing more should arrive
        return self.calls

    def bodies(self, endpoint):
        return [call["body"] for call in self.calls if call["endpoint"] == endpoint]

    def warnings(self):
        return [m for m in self.page.console_messages if m.startswith("warning: ")]

    def info(self):
        return [m for m in self.page.console_messages if m.startswith("info: ")]


@pytest.fixture
def site(live_server, settings):
    settings.COHORT_PUBLIC_BASE_URL = live_server.url
    origin = live_server.url.replace("localhost", "127.0.0.1")
    return SiteFactory(allowed_origins=[live_server.url, origin], user_attributes_enabled=True)


@pytest.fixture
def other_site(live_server):
    """Another tenant, allowed from the same origin: nothing may land on it."""
    origin = live_server.url.replace("localhost", "127.0.0.1")
    return SiteFactory(allowed_origins=[live_server.url, origin], user_attributes_enabled=True)


@pytest.fixture
def shop(page, live_server, site, other_site):
    return Shop(page, live_server, site)


def stored_attributes(profile):
    """{key: (type, number, string, date, boolean)} for every value of the profile."""
    return {
        row.key: (
            row.value_type,
            row.number_value,
            row.string_value,
            row.date_value,
            row.boolean_value,
        )
        for row in AttributeValue.objects.filter(profile=profile)
    }


def test_calls_before_and_after_the_script_loads_store_typed_values_on_one_profile(
    shop, site, other_site
):
    # Given a page with only the stub (of a snippet installed before it kept a second
    # reference to its queue), whose code identifies the visitor anonymously
    shop.open("old-stub-only")
    shop.call("hj('identify', null, {ab_test: 'variant-A', referrer: 'facebook_paid'})")
    assert shop.page.evaluate("window.hj.q.length") == 1
    assert shop.calls == []

    # When the script loads, and the visitor then logs in
    cohort = shop.load_script()
    shop.call(RACHEL)
    shop.wait_for_calls(3)

    # Then the page visit went first, then both calls in order, each answered 200
    assert [(c["endpoint"], c["status"]) for c in shop.calls] == [
        ("sessions", 200),
        ("identify", 200),
        ("identify", 200),
    ]
    # as text/plain: the browser sends each at once, without a CORS preflight first
    assert {c["type"] for c in shop.calls} == {"text/plain;charset=UTF-8"}
    assert HEX32.match(cohort["visitorId"])
    assert HEX32.match(cohort["sessionId"])
    assert cohort["siteKey"] == site.key
    assert cohort["version"] == "1.0.0"
    [visit] = shop.bodies("sessions")
    assert visit["visitor_id"] == cohort["visitorId"]
    assert visit["session_id"] == cohort["sessionId"]
    assert visit["url"] == f"{shop.origin}/shop/old-stub-only"
    assert visit["referrer"] == ""
    anonymous, rachel = shop.bodies("identify")
    assert anonymous["user_id"] is None
    assert anonymous["attributes"] == {"ab_test": "variant-A", "referrer": "facebook_paid"}
    assert rachel["user_id"] == "ABC"
    assert rachel["attributes"] == {
        "email": "rachel@example.com",
        "total_spend": 500,
        "first_purchase": "2019-06-20T00:00:00.000Z",
        "newsletter": True,
    }
    message_ids = [c["body"]["message_id"] for c in shop.calls]
    assert all(HEX32.match(m) for m in message_ids)
    assert len(set(message_ids)) == 3
    assert {c["body"]["visitor_id"] for c in shop.calls} == {cohort["visitorId"]}

    # And the store holds one profile for ABC with every value in its typed column,
    # the anonymous attributes and session joined to it
    [profile] = Profile.objects.filter(site=site)
    assert profile.user_id == "ABC"
    assert stored_attributes(profile) == {
        "ab_test": ("string", None, "variant-A", None, None),
        "referrer": ("string", None, "facebook_paid", None, None),
        "email": ("string", None, "rachel@example.com", None, None),
        "total_spend": ("number", 500.0, None, None, None),
        "first_purchase": ("date", None, None, datetime(2019, 6, 20, tzinfo=UTC), None),
        "newsletter": ("boolean", None, None, None, True),
    }
    visitor = Visitor.objects.get(site=site, visitor_id=cohort["visitorId"])
    assert visitor.profile_id == profile.pk
    session = Session.objects.get(site=site, session_key=cohort["sessionId"])
    assert (session.visitor_id, session.profile_id) == (visitor.pk, profile.pk)
    assert session.landing_url == f"{shop.origin}/shop/old-stub-only"
    assert AttributeValue.objects.filter(site=site).count() == 6
    assert not Profile.objects.filter(site=other_site).exists()
    assert not Visitor.objects.filter(site=other_site).exists()
    assert shop.warnings() == []
    assert shop.errors == []


def test_a_page_with_its_own_hj_keeps_every_call_and_cohort_still_identifies(shop, site):
    shop.open("own-hj")
    shop.page.wait_for_function("window.hj && window.hj.cohort")

    shop.call("hj('event', 'checkout'); hj('identify', 'ABC', {plan: 'pro'})")
    shop.wait_for_calls(2)

    assert shop.page.evaluate("window.pageCalls") == [
        ["event", "checkout"],
        ["identify", "ABC", {"plan": "pro"}],
    ]
    profile = Profile.objects.get(site=site, user_id="ABC")
    assert stored_attributes(profile) == {"plan": ("string", None, "pro", None, None)}
    assert len(shop.warnings()) == 1
    assert "window.hj was already defined" in shop.warnings()[0]
    assert shop.errors == []


def test_a_script_defining_hj_after_cohort_gets_its_queue_and_every_later_call(shop, site):
    """Hotjar's snippet and Cohort's share the stub; when Hotjar loads second, it takes
    the calls left in hj.q, identify calls included, and assigns its own hj, and both keep
    working. Replayed through window.hj, the calls Cohort acted on are not sent again."""
    shop.open("stub-only")
    shop.call("hj('event', 'landed'); hj('identify', 'ABC', {plan: 'free'})")
    shop.load_script()
    shop.call("hj('identify', 'ABC', {plan: 'pro'})")

    shop.call(OTHER_HJ)
    shop.call("hj('event', 'checkout')")
    shop.wait_for_calls(3)

    assert shop.page.evaluate("window.otherCalls") == [
        ["event", "landed"],
        ["identify", "ABC", {"plan": "free"}],
        ["identify", "ABC", {"plan": "pro"}],
        ["event", "checkout"],
    ]
    assert shop.page.evaluate("Boolean(window.hj.cohort)")
    assert [body["attributes"] for body in shop.bodies("identify")] == [
        {"plan": "free"},
        {"plan": "pro"},
    ]
    profile = Profile.objects.get(site=site, user_id="ABC")
    assert stored_attributes(profile) == {"plan": ("string", None, "pro", None, None)}


def test_calls_queued_before_the_script_reach_it_when_another_hj_script_loads_first(shop, site):
    """Hotjar's script, loading first, takes the stub's queue and assigns its hj; the
    install snippet's second reference to the queue keeps the calls for Cohort."""
    shop.open("other-first")
    shop.page.wait_for_function("window.hj && window.hj.cohort")
    shop.call("hj('event', 'checkout')")
    shop.wait_for_calls(2)

    assert shop.page.evaluate("window.otherCalls") == [
        ["identify", "ABC", {"plan": "pro"}],
        ["event", "checkout"],
    ]
    profile = Profile.objects.get(site=site, user_id="ABC")
    assert stored_attributes(profile) == {"plan": ("string", None, "pro", None, None)}
    assert [c["endpoint"] for c in shop.calls] == ["sessions", "identify"]
    assert shop.errors == []


def test_a_number_user_id_is_sent_and_stored_as_a_string(shop, site):
    shop.open()
    shop.page.wait_for_function("window.hj && window.hj.cohort")

    shop.call("hj('identify', 931493, {total_spend: 500, first_purchase: '2019-06-20Z'})")
    shop.wait_for_calls(2)

    [call] = shop.bodies("identify")
    assert call["user_id"] == "931493"
    profile = Profile.objects.get(site=site, user_id="931493")
    assert stored_attributes(profile) == {
        "total_spend": ("number", 500.0, None, None, None),
        "first_purchase": ("date", None, None, datetime(2019, 6, 20, tzinfo=UTC), None),
    }


def test_bad_calls_only_warn_and_later_calls_still_work(shop, site):
    # Given bad calls queued before the script and made after it
    shop.open("stub-only")
    shop.call("hj('identify', {}, 5)")
    shop.load_script()
    shop.call("hj('identify', {}, 5)")
    shop.call("hj('identify', 'u-1', 'plan=pro')")
    shop.call("hj('identify', true, {plan: 'pro'})")
    shop.call("hj('identify', NaN, {plan: 'pro'})")
    shop.call("hj('track', 'purchase')")
    shop.call("hj()")

    # When a good call follows, with values the API could not store (a title cut to 12
    # UTF-16 units splits its emoji: a lone surrogate; a NUL in a key)
    shop.call(
        "hj('identify', 'u-1', {plan: 'pro', broken: new Date('nope'), none: undefined, "
        "fav: 'Great book 😀 more'.slice(0, 12), 'a\\u0000b': 1})"
    )
    shop.wait_for_calls(2)

    # Then only the good call was sent (without the values JSON cannot carry or the API
    # could not store) and stored
    assert [c["endpoint"] for c in shop.calls] == ["sessions", "identify"]
    [call] = shop.bodies("identify")
    assert (call["user_id"], call["attributes"]) == ("u-1", {"plan": "pro"})
    profile = Profile.objects.get(site=site, user_id="u-1")
    assert stored_attributes(profile) == {"plan": ("string", None, "pro", None, None)}
    prefix = "warning: [cohort] hj('identify', userId, attributes): "
    assert shop.warnings() == [
        prefix + "userId must be a string, a number or null, not an object; call ignored.",
        prefix + "userId must be a string, a number or null, not an object; call ignored.",
        prefix + 'attributes must be a plain object, not "plan=pro"; call ignored.',
        prefix + "userId must be a string, a number or null, not true; call ignored.",
        prefix + "userId must be a string, a number or null, not NaN; call ignored.",
        'warning: [cohort] unknown command "track": not Cohort\'s; kept in hj.q.',
        "warning: [cohort] unknown command undefined: not Cohort's; kept in hj.q.",
        'warning: [cohort] attribute "broken" not sent: invalid Date.',
        'warning: [cohort] attribute "none" not sent: undefined cannot be sent.',
        'warning: [cohort] attribute "fav" not sent: "Great book \\ud83d" holds a NUL character '
        "or half of an emoji (a lone surrogate), which cannot be stored.",
        'warning: [cohort] attribute "a\\u0000b" not sent: its key holds a NUL character or '
        "half of an emoji (a lone surrogate), which cannot be stored.",
    ]
    assert shop.errors == []
    assert shop.page.evaluate("typeof window.hj.cohort.visitorId") == "string"


def test_the_visitor_id_survives_reloads_and_either_store_being_cleared(shop, site):
    cookie_name = f"_cohort_vid_{site.key}"

    def visit():
        calls_before = len(shop.calls)
        shop.open()
        cohort = shop.page.wait_for_function("window.hj && window.hj.cohort").json_value()
        shop.wait_for_calls(calls_before + 1)  # the page visit, before leaving the page
        return cohort

    first = visit()
    [cookie] = [c for c in shop.page.context.cookies() if c["name"] == cookie_name]
    assert cookie["value"] == first["visitorId"]
    assert cookie["sameSite"] == "Lax"
    assert 364 * 86400 < cookie["expires"] - time.time() <= 365 * 86400
    assert shop.page.evaluate(f"localStorage.getItem('{cookie_name}')") == first["visitorId"]

    again = visit()
    shop.page.context.clear_cookies()
    without_cookie = visit()
    shop.page.evaluate("localStorage.clear()")
    without_storage = visit()

    assert {again["visitorId"], without_cookie["visitorId"], without_storage["visitorId"]} == {
        first["visitorId"]
    }
    assert shop.page.evaluate(f"localStorage.getItem('{cookie_name}')") == first["visitorId"]
    assert {c["value"] for c in shop.page.context.cookies() if c["name"] == cookie_name} == {
        first["visitorId"]
    }
    # One device, one browsing session of four pages
    assert {without_storage["sessionId"]} == {first["sessionId"], again["sessionId"]}
    [visitor] = Visitor.objects.filter(site=site)
    assert visitor.visitor_id == first["visitorId"]
    [session] = Session.objects.filter(site=site)
    assert (session.session_key, session.page_count) == (first["sessionId"], 4)


def test_a_session_idle_for_30_minutes_is_replaced_by_a_new_one(shop, site):
    shop.open()
    first = shop.page.wait_for_function("window.hj && window.hj.cohort").json_value()
    shop.wait_for_calls(1)
    shop.page.evaluate(
        f"""() => {{
            const key = '_cohort_sid_{site.key}';
            const stored = JSON.parse(sessionStorage.getItem(key));
            stored.seen -= 31 * 60 * 1000;
            sessionStorage.setItem(key, JSON.stringify(stored));
        }}"""
    )

    shop.open()
    second = shop.page.wait_for_function("window.hj && window.hj.cohort").json_value()
    shop.wait_for_calls(2)

    assert second["visitorId"] == first["visitorId"]
    assert second["sessionId"] != first["sessionId"]
    assert Session.objects.filter(site=site).count() == 2


@pytest.mark.parametrize("first_attempt", ["lost before the server", "applied, answer lost"])
def test_a_failed_identify_is_retried_once_with_the_same_message_id(shop, site, first_attempt):
    attempts = []

    def fail_first(route):
        attempts.append(route.request.post_data)
        if len(attempts) > 1:
            route.continue_()
            return
        if first_attempt == "applied, answer lost":
            route.fetch()
        shop.refuse(route, 503, "unavailable", "Try again.")

    shop.page.route(f"{shop.api}/identify", fail_first)
    shop.open()
    shop.page.wait_for_function("window.hj && window.hj.cohort")

    shop.call("hj('identify', 'ABC', {total_spend: 500})")
    shop.wait_for_calls(3)

    first, retry = shop.bodies("identify")
    assert first == retry
    assert [c["status"] for c in shop.calls if c["endpoint"] == "identify"] == [503, 200]
    assert len(attempts) == 2
    profile = Profile.objects.get(site=site, user_id="ABC")
    assert stored_attributes(profile) == {"total_spend": ("number", 500.0, None, None, None)}
    assert ProcessedMessage.objects.filter(site=site, message_id=first["message_id"]).count() == 1
    assert shop.warnings() == []


def test_a_call_made_offline_is_sent_once_the_browser_is_back_online(shop, site):
    shop.open()
    shop.page.wait_for_function("window.hj && window.hj.cohort")
    shop.wait_for_calls(1)  # the page visit
    shop.page.context.set_offline(True)

    shop.call("hj('identify', 'ABC', {plan: 'pro'})")
    shop.page.wait_for_timeout(1500)  # longer than the retry delay
    assert not Profile.objects.filter(site=site, user_id="ABC").exists()
    shop.page.context.set_offline(False)
    shop.wait_for_calls(2)

    profile = Profile.objects.get(site=site, user_id="ABC")
    assert stored_attributes(profile) == {"plan": ("string", None, "pro", None, None)}
    assert shop.warnings() == []


@pytest.mark.usefixtures("on_postgres")  # the calls arrive together: SQLite's in-memory
# test database refuses a writer while another writes instead of making it wait
def test_calls_waiting_their_turn_are_sent_at_once_when_the_page_goes(shop, site):
    """A form's submit handler identifies three times and the page goes: the calls
    waiting behind the first one went down with the page. When the page is hidden or
    left (`pagehide`), they go at once as requests the browser completes after it."""
    shop.open()
    shop.page.wait_for_function("window.hj && window.hj.cohort")
    shop.wait_for_calls(1)  # the page visit
    held = []

    def hold_the_first(route):
        if held:
            route.continue_()
        else:
            held.append(route)

    shop.page.route(f"{shop.api}/identify", hold_the_first)
    shop.call("hj('identify', 'leaving', {total_spend: 42})")
    shop.call("hj('identify', 'leaving', {orders: 3, plan: 'free'})")
    shop.call("hj('identify', 'leaving', {plan: 'pro'})")
    while not held:
        shop.page.wait_for_timeout(20)

    shop.page.evaluate("window.dispatchEvent(new Event('pagehide'))")
    # the two waiting calls, while the first is still held: as one call, since calls
    # sent together may arrive in any order and the later value of a key must win
    shop.wait_for_calls(2)
    profile = Profile.objects.get(site=site, user_id="leaving")
    assert stored_attributes(profile) == {
        "orders": ("number", 3.0, None, None, None),
        "plan": ("string", None, "pro", None, None),
    }

    held[0].continue_()
    shop.wait_for_calls(3)
    assert stored_attributes(profile)["total_spend"] == ("number", 42.0, None, None, None)
    # each call went once: the queue does not send again what left with the page
    assert len(shop.bodies("identify")) == 2
    assert shop.warnings() == []


def test_the_script_can_read_how_long_a_refusal_asks_it_to_wait(shop, settings):
    """A 429 (or 503) says in Retry-After when to try again; the browser shows the header
    to the customer's page, where the script runs, only if the API exposes it."""
    settings.COHORT_THROTTLE_PER_CLIENT = "1/min"
    shop.open("stub-only")

    status, wait = shop.page.evaluate(
        """async (api) => {
          const body = JSON.stringify({visitor_id: "r".repeat(32), attributes: {}});
          const init = {method: "POST", headers: {"Content-Type": "application/json"}, body};
          for (let i = 0; i < 3; i++) {
            const response = await fetch(api + "/identify", init);
            if (response.status === 429) return [429, response.headers.get("Retry-After")];
          }
          return [0, null];
        }""",
        shop.api,
    )

    assert status == 429
    assert 1 <= int(wait) <= 60


def test_a_refused_call_warns_with_the_reason_and_the_visit_is_still_recorded(shop, site):
    site.user_attributes_enabled = False
    site.save(update_fields=["user_attributes_enabled"])
    shop.open()
    shop.page.wait_for_function("window.hj && window.hj.cohort")

    shop.call("hj('identify', 'ABC', {total_spend: 500})")
    shop.wait_for_calls(2)

    assert [(c["endpoint"], c["status"]) for c in shop.calls] == [
        ("sessions", 200),
        ("identify", 403),
    ]
    assert shop.warnings() == [
        "warning: [cohort] identify refused (403 user_attributes_disabled): User Attributes "
        "are disabled for this site. An owner of the account can enable them on the User "
        "Attributes page in Cohort."
    ]
    assert Session.objects.filter(site=site).count() == 1
    assert not AttributeValue.objects.filter(site=site).exists()


def test_debug_mode_logs_calls_responses_and_rejections_for_the_tab(shop, site):
    shop.open(query="?cohortDebug=1")
    shop.page.wait_for_function("window.hj && window.hj.cohort")

    shop.call("hj('identify', 'ABC', {plan: 'pro', contact: 'rachel@example.com'})")
    shop.wait_for_calls(2)

    info = shop.info()
    assert info[0].startswith("info: [cohort] version 1.0.0 started for site " + site.key)
    assert (
        'info: [cohort] hj("identify", "ABC", {"plan":"pro","contact":"rachel@example.com"})'
        in (info)
    )
    [sent] = [m for m in info if m.startswith("info: [cohort] identify sending to ")]
    assert json.dumps(shop.bodies("identify")[0], separators=(",", ":")) in sent
    [answer] = [m for m in info if m.startswith("info: [cohort] identify response 200 ")]
    assert json.loads(answer.split(" 200 ", 1)[1]) == {
        "visitor_id": shop.page.evaluate("hj.cohort.visitorId"),
        "user_id": "ABC",
        "stored": ["plan"],
        "rejected": {"contact": "email_outside_email_key"},
    }
    assert shop.warnings() == [
        'warning: [cohort] attribute "contact" rejected: email_outside_email_key'
    ]

    # Debug mode stays on for the tab until turned off
    for query, debug in (("", True), ("?cohortDebug=0", False), ("", False)):
        sent = len(shop.calls)
        shop.open(query=query)
        cohort = shop.page.wait_for_function("window.hj && window.hj.cohort").json_value()
        assert cohort["debug"] is debug
        # its page visit answered before the next page (or the end of the test, when the
        # database is emptied) comes: the visit's keepalive request outlives the page
        shop.wait_for_calls(sent + 1)


def test_the_demo_page_shows_attributes_arriving(page, live_server, site):
    # Given the demo page, opened with debug mode on
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server.url, MembershipFactory(account=site.account, role="owner").user)
    page.goto(f"{live_server.url}/demo/{site.key}/?cohortDebug=1")
    visitor_id = page.wait_for_function("window.hj && window.hj.cohort.visitorId").json_value()
    assert page.locator("#visitor-id").text_content() == visitor_id

    # When Rachel logs in
    page.get_by_role("button", name="Log in as Rachel").click()

    # Then the panel shows the API's answer, and her attributes are stored
    panel = page.locator("#last-response")
    panel.filter(has_text='"user_id": "ABC"').wait_for()
    assert json.loads(panel.text_content().split("\n", 1)[1]) == {
        "visitor_id": visitor_id,
        "user_id": "ABC",
        "stored": ["email", "first_purchase", "newsletter", "total_spend"],
        "rejected": {},
    }
    [profile] = Profile.objects.filter(site=site)
    assert profile.user_id == "ABC"
    assert stored_attributes(profile) == {
        "ab_test": ("string", None, "variant-A", None, None),
        "referrer": ("string", None, "facebook_paid", None, None),
        "email": ("string", None, "rachel@example.com", None, None),
        "total_spend": ("number", 500.0, None, None, None),
        "first_purchase": ("date", None, None, datetime(2019, 6, 20, tzinfo=UTC), None),
        "newsletter": ("boolean", None, None, None, True),
    }
    assert Session.objects.get(site=site).profile_id == profile.pk
    assert errors == []
