import json
import re

import pytest

from apps.tracker.selectors import CONFIG_PLACEHOLDER, tracker_script_for_site

pytestmark = pytest.mark.django_db


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
    assert served_config(body) == {"siteKey": site.key, "apiBase": "https://cohort.example.com"}
    assert CONFIG_PLACEHOLDER not in body
    assert other_site.key not in body


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
