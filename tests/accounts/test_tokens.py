"""Personal API tokens on the account page: created once-visible, stored hashed, revocable."""

import re

import pytest

from apps.accounts.models import ApiToken
from apps.accounts.selectors import token_hash
from apps.accounts.services import api_token_create, api_token_create_once
from apps.common.errors import ApplicationError
from tests.factories import MembershipFactory, UserFactory


def test_create_shows_the_token_once_and_stores_only_its_hash(login, owner, account, site):
    client = login(owner)

    response = client.post(f"/a/{account.slug}/account/tokens/", {"token-name": "privacy"})

    raw = re.search(r'<pre id="new-token">(ck_[^<]+)</pre>', response.content.decode())[1]
    token = ApiToken.objects.get()
    assert (token.name, token.user, token.account) == ("privacy", owner, account)
    assert token.token_hash == token_hash(raw)
    assert raw not in str(ApiToken.objects.values().get())
    assert "no-store" in response["Cache-Control"]
    assert raw not in client.get(f"/a/{account.slug}/account/").content.decode()
    api = client.get(
        f"/api/v1/sites/{site.key}/lookup?user_id=x", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert api.status_code == 200


def test_blank_name_is_an_inline_error(login, owner, account):
    response = login(owner).post(f"/a/{account.slug}/account/tokens/", {"token-name": ""})

    assert response.status_code == 400
    assert "This field is required" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_revoke(login, owner, account, site):
    token, raw = api_token_create(account=account, user=owner, name="x")

    response = login(owner).post(f"/a/{account.slug}/account/tokens/{token.pk}/revoke/")

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    api = login(owner).get(
        f"/api/v1/sites/{site.key}/lookup?user_id=x", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert api.status_code == 401


def test_revoking_asks_first_and_names_the_token(login, owner, account):
    token, _ = api_token_create(account=account, user=owner, name="Back office")
    client = login(owner)
    url = f"/a/{account.slug}/account/tokens/{token.pk}/revoke/"

    page = client.get(f"/a/{account.slug}/account/").content.decode()
    dialog = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    plain = client.get(url).content.decode()

    assert f'hx-get="{url}"' in page
    assert dialog.startswith("<dialog")
    assert "HX-Request" in client.get(url)["Vary"]
    assert "<strong>Back office</strong>" in dialog
    assert 'id="confirm-revoke"' in dialog
    assert "<html" in plain
    assert 'id="confirm-revoke"' in plain
    token.refresh_from_db()
    assert token.revoked_at is None  # asking changes nothing


def test_another_users_token_cannot_be_revoked(login, owner, admin_user, account):
    token, _ = api_token_create(account=account, user=admin_user, name="theirs")

    response = login(owner).post(f"/a/{account.slug}/account/tokens/{token.pk}/revoke/")

    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_member_sees_no_privacy_audit_but_owner_does(login, owner, member, account):
    assert 'id="privacy-audit"' in login(owner).get(f"/a/{account.slug}/account/").content.decode()
    page = login(member).get(f"/a/{account.slug}/account/").content.decode()
    assert 'id="privacy-audit"' not in page


def test_the_same_form_sent_twice_makes_one_token(login, owner, account):
    client = login(owner)
    page = client.get(f"/a/{account.slug}/account/").content.decode()
    form_id = re.search(r'name="token-form_id" value="([0-9a-f]{32})"', page)[1]
    data = {"token-name": "privacy", "token-form_id": form_id}

    first = client.post(f"/a/{account.slug}/account/tokens/", data)
    again = client.post(f"/a/{account.slug}/account/tokens/", data, follow=True)

    assert ApiToken.objects.count() == 1
    assert '<pre id="new-token">' in first.content.decode()
    next_id = re.search(r'name="token-form_id" value="([0-9a-f]{32})"', first.content.decode())[1]
    assert next_id != form_id
    assert again.redirect_chain == [(f"/a/{account.slug}/account/", 302)]
    assert "That form made its token already" in again.content.decode()
    assert '<pre id="new-token">' not in again.content.decode()
    client.post(
        f"/a/{account.slug}/account/tokens/", {"token-name": "second", "token-form_id": next_id}
    )
    assert ApiToken.objects.count() == 2


def test_the_token_field_and_the_account_name_field_keep_their_own_ids(login, owner, account):
    page = login(owner).get(f"/a/{account.slug}/account/").content.decode()

    ids = re.findall(r'<input[^>]* id="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    token_input = re.search(r'<input[^>]*name="token-name"[^>]*>', page)[0]
    assert 'aria-describedby="id_token-name_helptext"' in token_input
    assert '<p class="help" id="id_token-name_helptext">What it is for' in page


def test_a_form_id_no_form_makes_is_a_form_error(login, owner, account):
    response = login(owner).post(
        f"/a/{account.slug}/account/tokens/", {"token-name": "x", "token-form_id": "a b\n"}
    )

    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_a_form_whose_token_could_not_be_made_may_be_sent_again(account, owner):
    outsider = UserFactory()
    form_id = "0" * 32
    with pytest.raises(ApplicationError):
        api_token_create_once(account=account, user=outsider, name="x", form_id=form_id)
    MembershipFactory(account=account, user=outsider)

    made = api_token_create_once(account=account, user=outsider, name="x", form_id=form_id)
    again = api_token_create_once(account=account, user=outsider, name="x", form_id=form_id)

    assert made is not None
    assert again is None
    assert ApiToken.objects.filter(user=outsider).count() == 1
