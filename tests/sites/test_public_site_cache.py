"""The public site lookup kept in process memory (`site_get_public_cached`): every change to
a site or its plan takes effect on the next widget decision or identify call.

Every test has two tenants: `site` (Radbooks) and `other_site` (Other Co).
"""

import pytest
from django.core.cache import cache
from django.urls import reverse

from apps.accounts.models import Account
from apps.accounts.services import api_token_create
from apps.billing.services import plan_change
from apps.common import localcache
from apps.consent.services import user_attributes_disable
from apps.sites.models import Site
from apps.sites.selectors import PUBLIC_SITE_SECONDS, site_get_public_cached
from apps.sites.services import site_delete, site_update
from apps.user_attributes.models import AttributeValue
from tests.factories import SiteFactory

VISITOR = "visitor0visitor0visitor0visitor0"
SHOP = "https://shop.example.com"
NEW_SHOP = "https://new-shop.example.com"


def decision(client, site_key, origin=None):
    headers = {"HTTP_ORIGIN": origin} if origin else {}
    return client.get(
        f"/api/v1/sites/{site_key}/widgets", {"visitor_id": VISITOR, "url": "/"}, **headers
    )


def status_and_code(response):
    body = response.json()
    return response.status_code, body.get("code") if isinstance(body, dict) else None


def test_the_second_lookup_is_served_from_memory(site, django_assert_num_queries):
    first = site_get_public_cached(key=site.key)

    with django_assert_num_queries(0):
        again = site_get_public_cached(key=site.key)

    assert again is first
    assert (again.pk, again.account.slug) == (site.pk, "radbooks")


def test_each_key_finds_its_own_site(site, other_site):
    assert site_get_public_cached(key=site.key).pk == site.pk
    assert site_get_public_cached(key=other_site.key).pk == other_site.pk


def test_new_allowed_origins_apply_to_the_next_decision(api_client, site, other_site):
    assert decision(api_client, site.key, SHOP).status_code == 200
    assert decision(api_client, other_site.key, SHOP).status_code == 200

    site_update(site=site, name=site.name, allowed_origins=[NEW_SHOP])

    assert status_and_code(decision(api_client, site.key, SHOP)) == (403, "origin_not_allowed")
    allowed = decision(api_client, site.key, NEW_SHOP)
    assert allowed.status_code == 200
    assert allowed["Access-Control-Allow-Origin"] == NEW_SHOP
    # The other tenant's site is untouched
    assert decision(api_client, other_site.key, SHOP).status_code == 200


def test_a_deleted_site_is_unknown_at_once(api_client, site, other_site):
    key = site.key
    assert decision(api_client, key).status_code == 200

    site_delete(site=site)

    assert status_and_code(decision(api_client, key)) == (404, "unknown_site")
    assert decision(api_client, other_site.key).status_code == 200


def test_sites_of_an_account_deleted_by_staff_are_unknown_at_once(
    client, staff, api_client, site, other_site
):
    second = SiteFactory(account=site.account, name="Second shop")
    for key in (site.key, second.key):
        assert decision(api_client, key).status_code == 200
    client.force_login(staff)

    response = client.post(
        reverse("admin:accounts_account_delete", args=[site.account_id]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert not Account.objects.filter(pk=site.account_id).exists()
    for key in (site.key, second.key):
        assert status_and_code(decision(api_client, key)) == (404, "unknown_site")
    assert decision(api_client, other_site.key).status_code == 200


def test_switching_user_attributes_off_is_seen_at_once(site, owner):
    assert site_get_public_cached(key=site.key).user_attributes_enabled is True

    user_attributes_disable(site=Site.objects.get(pk=site.pk), user=owner, client_ip=None)

    assert site_get_public_cached(key=site.key).user_attributes_enabled is False


def test_a_plan_change_is_seen_on_every_site_of_the_account(site, owner, account, other_site):
    second = Site.objects.create(account=account, name="Second shop")
    site_get_public_cached(key=site.key)
    site_get_public_cached(key=second.key)
    site_get_public_cached(key=other_site.key)

    plan_change(account=account, tier="plus", changed_by=owner)

    assert site_get_public_cached(key=site.key).account.tier == "plus"
    assert site_get_public_cached(key=second.key).account.tier == "plus"
    assert site_get_public_cached(key=other_site.key).account.tier == "business"


def identify(client, site_key, plan="pro"):
    return client.post(
        f"/api/v1/sites/{site_key}/identify",
        {"visitor_id": VISITOR, "user_id": "u1", "attributes": {"plan": plan}},
        format="json",
    )


def test_identify_is_refused_on_the_next_call_after_user_attributes_are_switched_off(
    api_client, site, other_site, owner
):
    assert identify(api_client, site.key).status_code == 200
    assert identify(api_client, other_site.key).status_code == 200

    user_attributes_disable(site=Site.objects.get(pk=site.pk), user=owner, client_ip=None)

    refused = identify(api_client, site.key, plan="gold")
    assert status_and_code(refused) == (403, "user_attributes_disabled")
    assert AttributeValue.objects.get(site=site, key="plan").string_value == "pro"
    assert identify(api_client, other_site.key, plan="gold").status_code == 200


def test_identify_is_refused_on_the_next_call_after_a_downgrade(api_client, site, owner, account):
    assert identify(api_client, site.key).status_code == 200

    plan_change(account=account, tier="plus", changed_by=owner)

    assert status_and_code(identify(api_client, site.key, plan="gold")) == (
        403,
        "plan_not_eligible",
    )
    assert AttributeValue.objects.get(site=site, key="plan").string_value == "pro"


def test_a_change_no_service_announced_is_seen_within_the_time_bound(api_client, site, monkeypatch):
    """Another process's change under a per-process cache: no new stamp reaches this
    process, so the kept site is used until its time is up."""
    now = localcache.time.monotonic()
    assert decision(api_client, site.key, SHOP).status_code == 200
    Site.objects.filter(pk=site.pk).update(allowed_origins=[NEW_SHOP])

    assert decision(api_client, site.key, SHOP).status_code == 200  # still the kept site

    monkeypatch.setattr(localcache.time, "monotonic", lambda: now + PUBLIC_SITE_SECONDS + 1)
    assert status_and_code(decision(api_client, site.key, SHOP)) == (403, "origin_not_allowed")


def test_an_unknown_key_is_not_kept(api_client, db):
    assert status_and_code(decision(api_client, "nope")) == (404, "unknown_site")
    assert site_get_public_cached(key="nope") is None
    assert cache.get("stamp:site-public:nope") is None


@pytest.mark.parametrize("key", ["", "x" * 33, "with space", "ключ", "a:b", "a\x00b"])
def test_text_no_site_key_can_have_finds_no_site(key, site, db):
    assert site_get_public_cached(key=key) is None


def test_a_nul_byte_in_the_site_key_is_an_unknown_site_everywhere(
    api_client, client, login, owner, site, account
):
    """PostgreSQL refuses NUL in a parameter: a key holding one is never looked up."""
    token = api_token_create(account=account, user=owner, name="t")[1]
    identify = api_client.post("/api/v1/sites/%00/identify", {}, format="json")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    lookup = api_client.get("/api/v1/sites/%00/lookup", {"user_id": "u1"})

    assert status_and_code(identify) == (404, "unknown_site")
    assert status_and_code(lookup) == (404, "unknown_site")
    assert client.get("/t/%00.js").status_code == 404
    assert login(owner).get(f"/a/{account.slug}/lookup/%00/").status_code == 404
