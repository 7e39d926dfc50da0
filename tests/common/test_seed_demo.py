"""`manage.py seed_demo`: idempotent demo data, and `--json` for scripts."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.accounts.models import Account, AccountEvent, ApiToken, Membership, User
from apps.accounts.services import api_token_revoke
from apps.billing.models import PlanChange
from apps.common.demo import DEMO_EMAIL, DEMO_PASSWORD
from apps.sites.models import Site


def _seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def _counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (User, Account, Membership, Site, PlanChange)
    }


def _facts() -> dict:
    return json.loads(_seed("--json"))


@pytest.mark.django_db
def test_seed_twice_gives_the_same_data(account, site, other_account, other_site):
    # given two tenants already exist, one named like the demo account
    before = _counts()

    # when the demo is seeded twice
    first = _facts()
    after_first = _counts()
    second = _facts()

    # then the second run created nothing and answered the same facts
    assert second == first
    assert _counts() == after_first
    assert after_first == {
        "User": before["User"] + 1,
        "Account": before["Account"] + 1,
        "Membership": before["Membership"] + 1,
        "Site": before["Site"] + 1,
        # the sign-up entry, then the move to Business
        "PlanChange": before["PlanChange"] + 2,
    }
    # the tenants that were there are untouched
    assert Site.objects.get(pk=site.pk).name == "Main shop"
    assert Site.objects.get(pk=other_site.pk).account == other_account


@pytest.mark.django_db
def test_json_prints_the_demo_facts_and_the_login_works(client):
    facts = _facts()

    demo_site = Site.objects.select_related("account").get(key=facts["site_key"])
    assert {"email", "password", "site_key", "base_url"} <= set(facts)
    assert (facts["email"], facts["password"]) == (DEMO_EMAIL, DEMO_PASSWORD)
    assert facts["base_url"] == "http://127.0.0.1:8000"
    assert facts["account_slug"] == demo_site.account.slug
    assert (demo_site.account.tier, demo_site.account.billing_version) == ("business", 2)
    assert demo_site.user_attributes_enabled is True
    assert demo_site.allowed_origins == ["http://127.0.0.1:8000"]
    assert Membership.objects.get(account=demo_site.account).role == "owner"
    assert client.login(email=facts["email"], password=facts["password"])


@pytest.mark.django_db
def test_seed_repairs_a_changed_password_and_a_downgraded_plan(client):
    # given the demo was seeded, then someone changed its password and plan
    facts = _facts()
    user = User.objects.get(email=facts["email"])
    user.set_password("something-else-1")
    user.save(update_fields=["password"])
    Account.objects.filter(slug=facts["account_slug"]).update(tier="basic")

    # when it is seeded again
    again = _facts()

    # then the same site is back in shape and the printed login works
    assert again["site_key"] == facts["site_key"]
    assert Account.objects.get(slug=facts["account_slug"]).tier == "business"
    assert client.login(email=again["email"], password=again["password"])


@pytest.mark.django_db
def test_seed_brings_back_a_revoked_demo_token(api_client):
    facts = _facts()
    api_token_revoke(token=ApiToken.objects.get(name="Demo token"))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {facts['api_token']}")
    lookup = f"/api/v1/sites/{facts['site_key']}/lookup?user_id=u1"
    assert api_client.get(lookup).status_code == 401

    again = _facts()

    assert again["api_token"] == facts["api_token"]
    assert api_client.get(lookup).status_code == 200
    events = AccountEvent.objects.filter(account__slug=facts["account_slug"])
    assert list(events.values_list("action", flat=True)).count("token_revoked") == 1


@pytest.mark.django_db
def test_a_renamed_demo_account_is_kept_and_its_token_works_for_its_site(api_client):
    facts = _facts()
    Account.objects.filter(slug=facts["account_slug"]).update(name="Radbooks Inc")
    before = _counts()

    again = _facts()

    assert _counts() == before
    assert (again["account_slug"], again["site_key"]) == (facts["account_slug"], facts["site_key"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {again['api_token']}")
    assert api_client.get(f"/api/v1/sites/{again['site_key']}/lookup?user_id=u1").status_code == 200


@pytest.mark.django_db
def test_base_url_option_adds_the_origin_and_is_printed():
    first = _facts()

    other = json.loads(_seed("--json", "--base-url", "http://127.0.0.1:8123/"))

    assert other["base_url"] == "http://127.0.0.1:8123"
    assert other["site_key"] == first["site_key"]
    assert Site.objects.get(key=other["site_key"]).allowed_origins == [
        "http://127.0.0.1:8000",
        "http://127.0.0.1:8123",
    ]


@pytest.mark.django_db
def test_run_again_without_a_base_url_it_names_where_make_run_served_the_demo():
    """`make run PORT=8108` seeds with its port; printing the facts again later names
    that port and leaves the origins as they are."""
    served = json.loads(_seed("--json", "--base-url", "http://127.0.0.1:8108"))
    site = Site.objects.get(key=served["site_key"])
    site.allowed_origins = [*site.allowed_origins, "https://shop.example.com"]
    site.save(update_fields=["allowed_origins"])

    again = _facts()

    assert again["base_url"] == "http://127.0.0.1:8108"
    assert again["demo_page"] == f"http://127.0.0.1:8108/demo/{site.key}/"
    assert Site.objects.get(pk=site.pk).allowed_origins == [
        "http://127.0.0.1:8108",
        "https://shop.example.com",
    ]


@pytest.mark.django_db
def test_a_port_served_again_is_the_one_named_next():
    for port in (8000, 8108, 8000):
        _seed("--json", "--base-url", f"http://127.0.0.1:{port}")

    again = _facts()

    assert again["base_url"] == "http://127.0.0.1:8000"
    assert Site.objects.get(key=again["site_key"]).allowed_origins == [
        "http://127.0.0.1:8108",
        "http://127.0.0.1:8000",
    ]


@pytest.mark.django_db
def test_without_json_it_prints_a_readable_summary():
    out = _seed()

    assert out.startswith("Demo data ready.\n")
    assert f"  email         {DEMO_EMAIL}\n" in out
    assert f"  password      {DEMO_PASSWORD}\n" in out


def test_production_refuses_to_create_the_public_demo_login(db, settings):
    settings.COHORT_DEMO_DATA = False  # config/settings/production.py's default

    with pytest.raises(CommandError, match="COHORT_DEMO_DATA=true"):
        _seed()

    assert not User.objects.filter(email=DEMO_EMAIL).exists()
