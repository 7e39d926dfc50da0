"""The site page and the sites list say whether the tracking script is sending data."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.identity.models import ProcessedMessage
from apps.sites.models import Site
from tests.factories import SiteFactory

VISITOR = "f" * 32


def _page_visit(client, site, message_id="message-000000001"):
    body = {
        "visitor_id": VISITOR,
        "session_id": "session-0000000001",
        "url": "https://shop.example.com/",
        "message_id": message_id,
    }
    response = client.post(
        f"/api/v1/sites/{site.key}/sessions", body, content_type="application/json"
    )
    assert response.status_code == 200, response.content


def _status(client, site) -> str:
    url = reverse("sites:status", args=[site.account.slug, site.key])
    return client.get(url).content.decode()


def test_a_new_site_waits_for_data_and_asks_again(login, owner, site):
    page = login(owner).get(reverse("sites:detail", args=[site.account.slug, site.key]))

    html = page.content.decode()
    assert "No data yet" in html
    assert 'hx-trigger="every 10s"' in html
    assert reverse("sites:status", args=[site.account.slug, site.key]) in html


def test_the_first_page_visit_turns_it_green(client, login, owner, site, other_site):
    _page_visit(client, other_site)  # another site's data says nothing about this one
    browser = login(owner)
    assert "No data yet" in _status(browser, site)

    _page_visit(client, site)

    html = _status(browser, site)
    assert "Receiving data" in html
    assert "just now" in html
    assert "hx-trigger" not in html  # nothing more to wait for
    listing = browser.get(reverse("sites:list", args=[site.account.slug])).content.decode()
    assert "just now" in listing


def test_it_says_how_long_ago_the_last_call_arrived(login, owner, site):
    ProcessedMessage.objects.create(
        site=site, message_id="old", created_at=timezone.now() - timedelta(hours=3, minutes=5)
    )
    ProcessedMessage.objects.create(
        site=site, message_id="older", created_at=timezone.now() - timedelta(days=2)
    )

    html = _status(login(owner), site)

    assert "3\xa0hours, 5\xa0minutes ago" in html


def test_an_older_site_with_nothing_lately_says_so(login, owner, site):
    Site.objects.filter(pk=site.pk).update(created_at=timezone.now() - timedelta(days=30))

    html = _status(login(owner), site)

    assert "No data in the last 7 days" in html


@pytest.mark.parametrize("origins", [[], ["https://shop.example.com"]])
def test_the_hint_names_missing_origins(login, owner, account, origins):
    site = SiteFactory(account=account, allowed_origins=origins)

    html = _status(login(owner), site)

    assert ("this site has none yet" in html) is (not origins)


def test_the_sites_list_reads_every_sites_status_in_one_query(
    login, owner, account, django_assert_max_num_queries
):
    for n in range(5):
        ProcessedMessage.objects.create(
            site=SiteFactory(account=account), message_id=f"m{n}", created_at=timezone.now()
        )
    browser = login(owner)
    url = reverse("sites:list", args=[account.slug])
    browser.get(url)  # warm the session

    with django_assert_max_num_queries(6):
        listing = browser.get(url).content.decode()

    assert listing.count("just now") == 5
