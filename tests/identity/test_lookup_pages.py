"""Visitor Lookup pages: search by user id / email / both, delete with confirmation."""

import pytest

from apps.identity.models import PrivacyAudit, Profile, Session, Visitor
from apps.identity.services import session_record, visitor_identify
from apps.user_attributes.models import AttributeValue

MOBILE = "mobile456mobile456mobile456bbbbb"


@pytest.fixture
def rachel(site):
    session_record(
        site=site, visitor_id=MOBILE, session_key="session-B-000000001", url="https://s/"
    )
    visitor_identify(
        site=site,
        visitor_id=MOBILE,
        user_id="ABC",
        attributes={"email": "rachel@example.com", "total_spend": 500},
    )
    return Profile.objects.get(site=site, user_id="ABC")


def page_url(site, suffix=""):
    return f"/a/{site.account.slug}/lookup/{site.key}/{suffix}"


@pytest.mark.parametrize(
    "query",
    ["user_id=ABC", "email=Rachel%40Example.com", "user_id=ABC&email=rachel%40example.com"],
)
def test_search_shows_the_person(login, member, site, rachel, query):
    response = login(member).get(f"{page_url(site)}?{query}")

    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-user-id="ABC"' in page
    assert 'data-key="total_spend"' in page
    assert "rachel@example.com" in page
    assert MOBILE in page
    assert "https://s/" in page
    assert PrivacyAudit.objects.get().channel == "page"


def test_htmx_search_returns_only_the_results(login, member, site, rachel):
    response = login(member).get(f"{page_url(site)}?user_id=ABC", HTTP_HX_REQUEST="true")

    assert "<html" not in response.content.decode()
    assert 'data-user-id="ABC"' in response.content.decode()
    assert "HX-Request" in response["Vary"]


def test_empty_search_is_a_readable_error(login, member, site):
    response = login(member).get(f"{page_url(site)}?user_id=&email=")

    assert response.status_code == 400
    assert "Give a user id, an email address, or both" in response.content.decode()
    assert not PrivacyAudit.objects.exists()


def test_nobody_found(login, member, site):
    response = login(member).get(f"{page_url(site)}?user_id=nobody")
    assert 'id="no-results"' in response.content.decode()


def test_delete_asks_then_removes_the_person(login, owner, site, rachel):
    client = login(owner)
    confirm = client.get(f"{page_url(site, 'delete/')}?user_id=ABC")
    assert "Delete permanently" in confirm.content.decode()
    assert Profile.objects.filter(pk=rachel.pk).exists()

    response = client.post(page_url(site, "delete/"), {"user_id": "ABC", "email": ""}, follow=True)

    assert response.status_code == 200
    assert "Deleted 1 profile(s), 2 attribute value(s), 1 device(s) and 1 session(s)" in (
        response.content.decode()
    )
    assert 'id="no-results"' in response.content.decode()
    assert not Profile.objects.filter(site=site).exists()
    assert not AttributeValue.objects.filter(site=site).exists()
    assert not Visitor.objects.filter(site=site).exists()
    assert not Session.objects.filter(site=site).exists()


def test_a_member_cannot_delete(login, member, site, rachel):
    response = login(member).post(page_url(site, "delete/"), {"user_id": "ABC"})

    assert response.status_code == 403
    assert Profile.objects.filter(pk=rachel.pk).exists()


def test_another_accounts_site_is_404_and_untouched(login, owner, other_site):
    visitor_identify(site=other_site, visitor_id=MOBILE, user_id="ABC", attributes={"a": 1})
    client = login(owner)

    search = client.get(f"/a/radbooks/lookup/{other_site.key}/?user_id=ABC")
    delete = client.post(f"/a/radbooks/lookup/{other_site.key}/delete/", {"user_id": "ABC"})

    assert (search.status_code, delete.status_code) == (404, 404)
    assert Profile.objects.filter(site=other_site, user_id="ABC").exists()
    assert not PrivacyAudit.objects.exists()
