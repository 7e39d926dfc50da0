"""The app's pages on a phone's screen (390 x 844, and 320 px wide: WCAG 1.4.10's reflow
width), in a real browser: no page is wider than the screen, and every link of the header
can be reached."""

import pytest

from apps.identity.services import session_record, visitor_identify
from tests.browser.accounts import log_in
from tests.feedback_targeting.factories import QuestionFactory, ResponseFactory, WidgetFactory

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
VISITOR = "phone000phone000phone000phone000"
LONG_LINK = "https://www.the-long-bookshop-example.co.uk/checkout/payment?session=" + "8f2a" * 30
# The innermost elements that reach past the screen's right edge, to name in a failure.
WIDEST = """() => {
  const past = (el) => el.getBoundingClientRect().right > window.innerWidth + 1;
  return Array.from(document.querySelectorAll("body *"))
    .filter((el) => past(el) && !Array.from(el.children).some(past))
    .slice(0, 5)
    .map((el) => `${el.tagName}.${el.className} ${Math.round(el.getBoundingClientRect().right)}`);
}"""


@pytest.fixture
def phone(page, live_server, owner, site):
    page.set_viewport_size(PHONE)
    log_in(page, live_server.url, owner)
    return page


@pytest.mark.parametrize("width", [390, 320])
def test_no_page_is_wider_than_a_phone(phone, live_server, site, width):
    phone.set_viewport_size({**PHONE, "width": width})
    session_record(
        site=site,
        visitor_id=VISITOR,
        session_key="session-phone-0000001",
        url="https://shop.example.com/a-rather-long/path/to/a/product?with=query&and=more",
    )
    visitor_identify(
        site=site,
        visitor_id=VISITOR,
        user_id="ABC",
        attributes={"email": "rachel@example.com", "total_spend": 500, "plan": "gold"},
    )
    targeting = {
        "match": "all",
        "conditions": [
            {"type": "number", "key": "total_spend", "op": "between", "value": [10, 500]},
            {"type": "string", "key": "plan", "op": "in", "value": ["gold", "silver"]},
        ],
    }
    poll = WidgetFactory(
        site=site, kind="poll", name="Paying customers: how are we doing?", targeting=targeting
    )
    QuestionFactory(widget=poll, position=0, kind="rating", text="Happy?", choices=[])
    text = QuestionFactory(widget=poll, position=1, kind="text", text="Anything?", choices=[])
    # A visitor's answer with a link in it: long words wrap instead of widening the page
    ResponseFactory(
        widget=poll,
        answers={str(text.pk): f"The link {LONG_LINK} did not load"},
        page_url=LONG_LINK,
    )
    slug = site.account.slug
    pages = [
        f"/a/{slug}/sites/",
        f"/a/{slug}/sites/{site.key}/",
        f"/a/{slug}/user-attributes/{site.key}/",
        f"/a/{slug}/widgets/{site.key}/",
        f"/a/{slug}/widgets/{site.key}/new/?kind=poll",
        f"/a/{slug}/widgets/{site.key}/{poll.pk}/",
        f"/a/{slug}/widgets/{site.key}/{poll.pk}/results/",
        f"/a/{slug}/lookup/{site.key}/?user_id=ABC",
        f"/a/{slug}/account/",
    ]
    for path in pages:
        phone.goto(live_server.url + path)
        scrolled = phone.evaluate("document.documentElement.scrollWidth")
        wide = phone.evaluate(WIDEST)
        assert scrolled <= width, f"{path} is {scrolled} px wide: {wide}"
        plan = phone.get_by_role("navigation", name="Main").get_by_role("link", name="Plan")
        box = plan.bounding_box()
        assert 0 <= box["x"] <= width - box["width"], path


def test_the_skip_link_takes_the_keyboard_past_the_header(phone, live_server, site):
    phone.goto(f"{live_server.url}/a/{site.account.slug}/sites/")

    phone.keyboard.press("Tab")
    skip = phone.get_by_role("link", name="Skip to content")
    assert skip.evaluate("el => el === document.activeElement")
    phone.keyboard.press("Enter")

    assert phone.evaluate("document.activeElement.id") == "main"


def test_a_results_chart_is_read_at_its_own_size_on_a_phone(phone, live_server, site):
    """The bars are HTML: on a phone each label takes a line of its own at the text's
    size, where a chart drawn 640 wide and scaled down showed 6 px labels."""
    poll = WidgetFactory(site=site, kind="poll", name="Shop poll")
    question = QuestionFactory(
        widget=poll, position=0, kind="single", text="Which?", choices=["Delivery speed", "Prices"]
    )
    for choice in ("Delivery speed", "Prices", "Prices"):
        ResponseFactory(widget=poll, answers={str(question.pk): choice})

    phone.goto(f"{live_server.url}/a/{site.account.slug}/widgets/{site.key}/{poll.pk}/results/")

    labels = phone.locator("#chart-1 .bar-label")
    assert labels.all_text_contents() == ["Delivery speed", "Prices"]
    for label in labels.all():
        assert label.bounding_box()["height"] >= 12  # as drawn on the screen
    bar = phone.locator("#chart-1 .bar").first.bounding_box()
    assert bar["x"] + bar["width"] <= PHONE["width"]
    fills = phone.locator("#chart-1 .bar-fill")
    widths = [fill.bounding_box()["width"] for fill in fills.all()]
    assert widths[1] > 0
    assert abs(widths[0] * 2 - widths[1]) <= 2  # 1 answer against 2
