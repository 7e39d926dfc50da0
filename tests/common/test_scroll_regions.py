"""Boxes that scroll sideways on a narrow screen take focus, with a name, so that a
keyboard can scroll them (WCAG 2.1.1; Safari does not make them focusable itself)."""

import re

from apps.identity.services import visitor_identify
from tests.feedback_targeting.factories import QuestionFactory, WidgetFactory

SCROLL_BOX = re.compile(r'<(?:div class="table-scroll"|pre)[^>]*>')


def account_pages(site) -> list[str]:
    """The pages of an account with a little of everything, a widget with a question."""
    visitor_identify(site=site, visitor_id="v" * 32, user_id="ABC", attributes={"plan": "gold"})
    poll = WidgetFactory(site=site, kind="poll")
    QuestionFactory(widget=poll, position=0, kind="rating", text="Happy?", choices=[])
    slug, key = site.account.slug, site.key
    return [
        f"/a/{slug}/sites/",
        f"/a/{slug}/sites/{key}/",
        f"/a/{slug}/user-attributes/{key}/",
        f"/a/{slug}/widgets/{key}/",
        f"/a/{slug}/widgets/{key}/{poll.pk}/results/",
        f"/a/{slug}/lookup/{key}/?user_id=ABC",
        f"/a/{slug}/account/",
        f"/a/{slug}/account/audit/",
        f"/a/{slug}/plan/",
        "/accounts/",
    ]


def test_every_scroll_box_of_the_pages_is_a_named_focusable_region(login, owner, site):
    pages = account_pages(site)
    client = login(owner)
    found = 0
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        for box in SCROLL_BOX.findall(html):
            found += 1
            assert 'tabindex="0"' in box, (path, box)
            assert re.search(r'aria-label="[^"]+"', box), (path, box)
            assert 'role="region"' in box, (path, box)  # a name needs a role that takes one
    assert found >= 12


def test_the_regions_of_several_people_are_told_apart(login, owner, site):
    visitor_identify(site=site, visitor_id="a" * 32, user_id="ABC", attributes={"plan": "gold"})
    visitor_identify(
        site=site, visitor_id="b" * 32, user_id="XYZ", attributes={"email": "x@example.com"}
    )

    html = login(owner).get(
        f"/a/{site.account.slug}/lookup/{site.key}/?user_id=ABC&email=x%40example.com"
    )
    names = re.findall(r'role="region" aria-label="([^"]+)"', html.content.decode())

    assert len(names) == 6
    assert len(names) == len(set(names))


def test_every_column_of_the_pages_tables_has_a_header_a_screen_reader_reads(login, owner, site):
    client = login(owner)
    for path in account_pages(site):
        html = client.get(path).content.decode()
        assert not re.search(r"<th[^>]*>\s*</th>", html), path
