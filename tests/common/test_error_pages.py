"""Requests no view answers itself: a form's address opened as a page (405) and a form
sent with a CSRF token a log-in has since rotated (403) get pages with a way back."""

import pytest
from django.test import Client

from apps.accounts.models import ApiToken
from apps.common.pages import STALE_FORM


def test_a_forms_address_opened_as_a_page_says_so_with_a_way_back(login, owner, account):
    page = f"http://testserver/a/{account.slug}/account/"

    response = login(owner).get(f"/a/{account.slug}/account/tokens/", HTTP_REFERER=page)

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    html = response.content.decode()
    assert "This address is not a page" in html
    assert f'<a class="button" href="/a/{account.slug}/account/">Back to the page</a>' in html


@pytest.mark.parametrize(
    "referer",
    [
        "https://evil.example/page",
        "http://testserver//evil.example/page",
        "http://testserver/\\evil.example/page",
    ],
)
def test_another_sites_page_is_no_way_back(login, owner, account, referer):
    response = login(owner).get(f"/a/{account.slug}/account/tokens/", HTTP_REFERER=referer)

    assert "This address is not a page" in response.content.decode()
    assert "evil.example" not in response.content.decode()


def test_the_api_and_htmx_keep_their_own_405(client, login, owner, account, site):
    api = client.get(f"/api/v1/sites/{site.key}/identify")
    htmx = login(owner).get(f"/a/{account.slug}/account/tokens/", HTTP_HX_REQUEST="true")

    assert api.status_code == 405
    assert api.json()["code"] == "method_not_allowed"
    assert (htmx.status_code, htmx.content) == (405, b"")


@pytest.fixture
def strict(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    return client


def test_a_form_with_a_stale_token_is_refused_with_a_page_and_nothing_changes(
    strict, owner, account
):
    page = f"http://testserver/a/{account.slug}/account/"

    response = strict.post(
        f"/a/{account.slug}/account/tokens/",
        {"name": "CI", "csrfmiddlewaretoken": "x" * 32},
        HTTP_REFERER=page,
    )

    assert response.status_code == 403
    html = response.content.decode()
    assert "Please send it again" in html
    assert STALE_FORM in html
    assert f'href="/a/{account.slug}/account/">Back to the page</a>' in html
    assert not ApiToken.objects.exists()


def test_an_htmx_request_with_a_stale_token_names_the_cause_for_the_page(strict, account):
    response = strict.post(
        f"/a/{account.slug}/account/tokens/", {"name": "CI"}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 403
    assert response["X-Request-Error"] == STALE_FORM
