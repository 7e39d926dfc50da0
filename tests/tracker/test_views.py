import gzip
import json
import re

import pytest

from apps.feedback_targeting.texts import WIDGET_TEXTS
from apps.sites.selectors import site_install_snippet
from apps.tracker.selectors import CONFIG_PLACEHOLDER, tracker_script_for_site
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

STUB = "window.hj=window.hj||function(){(hj.q=hj.q||[]).push(arguments)};"


def served_config(body: str) -> dict:
    match = re.search(r"\}\)\((\{.*\})\);\s*$", body)
    assert match, "the script must end by calling its IIFE with the site configuration"
    return json.loads(match.group(1))


def test_script_is_served_as_javascript_with_the_site_key_and_api_base(
    client, site, other_site, settings
):
    settings.COHORT_PUBLIC_BASE_URL = "https://cohort.example.com/"

    response = client.get(f"/t/{site.key}.js")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/javascript; charset=utf-8"
    assert response["Cache-Control"] == "public, max-age=300"
    assert "Cookie" not in response.get("Vary", "")
    body = response.content.decode()
    assert served_config(body) == {
        "siteKey": site.key,
        "apiBase": "https://cohort.example.com",
        "texts": WIDGET_TEXTS,  # the widgets' own words in every language offered
    }
    assert CONFIG_PLACEHOLDER not in body
    assert other_site.key not in body


def test_script_is_compressed_and_may_be_embedded_by_isolated_pages(client, site):
    plain = client.get(f"/t/{site.key}.js")
    packed = client.get(f"/t/{site.key}.js", HTTP_ACCEPT_ENCODING="gzip, br")

    assert packed["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.content) == plain.content
    assert len(packed.content) < len(plain.content) / 3
    assert "Accept-Encoding" in packed["Vary"]
    # A page sending Cross-Origin-Embedder-Policy: require-corp loads only resources that
    # say they may be embedded elsewhere.
    assert packed["Cross-Origin-Resource-Policy"] == "cross-origin"


def test_script_answers_head_and_refuses_post(client, site):
    assert client.head(f"/t/{site.key}.js").status_code == 200
    assert client.post(f"/t/{site.key}.js").status_code == 405


def test_unknown_site_key_gets_a_404_javascript_comment(client, site):
    response = client.get("/t/no-such-key.js")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/javascript; charset=utf-8"
    assert response.content == b"/* unknown site */\n"
    assert response["Cache-Control"] == "no-cache"


def test_config_cannot_break_out_of_the_script(site, settings):
    settings.COHORT_PUBLIC_BASE_URL = "https://cohort.example.com/</script><b>\u2028"

    body = tracker_script_for_site(site=site)

    assert "</script>" not in body
    assert "\u2028" not in body
    assert served_config(body)["apiBase"] == "https://cohort.example.com/</script><b>\u2028"


def test_demo_page_installs_the_snippet_and_queues_a_call_before_the_script(login, owner, site):
    response = login(owner).get(f"/demo/{site.key}/")

    assert response.status_code == 200
    html = response.content.decode()
    snippet = site_install_snippet(site=site)
    assert snippet in html
    stub_at = html.index(STUB)
    script_at = html.index(f'<script async src="http://127.0.0.1:8000/t/{site.key}.js">')
    queued_at = html.index(
        "hj('identify', null, {ab_test: 'variant-A', referrer: 'facebook_paid'})"
    )
    assert stub_at < script_at < queued_at
    assert "hj('identify', 'ABC', {" in html
    assert "first_purchase: new Date(Date.UTC(2019, 5, 20))" in html
    assert 'id="login-form"' in html
    assert 'id="visitor-id"' in html


def test_demo_page_is_for_the_members_of_the_sites_account(client, login, site, other_site):
    """It runs on Cohort's own address: any account's widget text shown there would pass
    for Cohort's (a poll asking for the visitor's Cohort password), so only the site's
    own people see it."""
    anonymous = client.get(f"/demo/{site.key}/")
    assert anonymous.status_code == 302
    assert anonymous["Location"] == f"/login/?next=/demo/{site.key}/"
    assert client.get("/demo/no-such-key/").status_code == 404

    owner_elsewhere = MembershipFactory(account=other_site.account, role="owner").user
    assert login(owner_elsewhere).get(f"/demo/{site.key}/").status_code == 404
    assert client.get(f"/demo/{other_site.key}/").status_code == 200


def test_demo_page_says_why_calls_would_fail(login, owner, site):
    site.user_attributes_enabled = False
    site.allowed_origins = ["https://shop.example.com"]
    site.save(update_fields=["user_attributes_enabled", "allowed_origins"])

    html = login(owner).get(f"/demo/{site.key}/").content.decode()

    assert "User Attributes are disabled for this site" in html
    assert "<code>http://testserver</code> is not among the site's allowed" in html


@pytest.mark.parametrize(
    ("tier", "billing_version", "reason"),
    [
        ("plus", 2, "User Attributes need the Business plan or higher"),
        ("business", 1, "User Attributes need billing version 2 or newer"),
    ],
)
def test_demo_page_says_when_the_plan_refuses_calls(
    login, owner, site, tier, billing_version, reason
):
    site.allowed_origins = ["http://testserver"]
    site.save(update_fields=["allowed_origins"])
    account = site.account
    account.tier, account.billing_version = tier, billing_version
    account.save(update_fields=["tier", "billing_version"])

    html = login(owner).get(f"/demo/{site.key}/").content.decode()

    assert "refused with <code>plan_not_eligible</code>" in html
    assert reason in html
    assert "User Attributes are disabled" not in html


def test_demo_page_has_no_warnings_when_the_site_is_ready(login, owner, site):
    site.allowed_origins = ["http://testserver"]
    site.save(update_fields=["allowed_origins"])

    html = login(owner).get(f"/demo/{site.key}/").content.decode()

    assert "User Attributes are disabled" not in html
    assert "is not among the site" not in html
    assert "plan_not_eligible" not in html
