"""Sites pages: create with origin validation, install snippet, settings, delete."""

import pytest
from django.urls import reverse

from apps.accounts.models import Account
from apps.sites.models import Site
from apps.sites.origins import origin_allowed
from tests.factories import SiteFactory

QUEUE_STUB = "window.hj=window.hj||function(){(hj.q=hj.q||[]).push(arguments)};"
# A second reference to the queue, for when another script sharing the stub takes it first.
QUEUE_KEPT = "if(/\\.q\\s*=/.test(hj))window._cohortq=hj.q=hj.q||[];"


def _sites(account) -> list[tuple]:
    return list(
        Site.objects.filter(account=account)
        .order_by("key")
        .values_list("key", "name", "allowed_origins", "user_attributes_enabled")
    )


@pytest.fixture(autouse=True)
def _other_tenant(other_owner, other_site):
    """The second tenant, present in every test."""


@pytest.fixture
def create_url(account):
    return reverse("sites:create", args=[account.slug])


@pytest.fixture
def detail_url(account, site):
    return reverse("sites:detail", args=[account.slug, site.key])


@pytest.fixture
def delete_url(account, site):
    return reverse("sites:delete", args=[account.slug, site.key])


# --- create -------------------------------------------------------------------------


@pytest.mark.parametrize("role_fixture", ["owner", "admin_user"])
def test_owner_and_admin_create_a_site(
    request, login, account, other_account, create_url, role_fixture
):
    # given an owner or admin, and another tenant with its own site
    user = request.getfixturevalue(role_fixture)
    other_before = _sites(other_account)

    # when they create a site with two origins (one with a trailing slash and capitals)
    response = login(user).post(
        create_url,
        {"name": "Docs", "allowed_origins": "https://Docs.Example.com/\nhttp://localhost:8080"},
    )

    # then the site exists with normalised origins and they land on its install page
    site = Site.objects.get(account=account)
    assert response.status_code == 302
    assert response["Location"] == reverse("sites:detail", args=[account.slug, site.key])
    assert (site.name, site.created_by) == ("Docs", user)
    assert site.allowed_origins == ["https://docs.example.com", "http://localhost:8080"]
    assert site.user_attributes_enabled is False
    assert len(site.key) == 22
    assert _sites(other_account) == other_before


@pytest.mark.parametrize(
    ("origins", "message"),
    [
        ("docs.example.com", "“docs.example.com” is not an origin: use https://example.com."),
        (
            "https://docs.example.com/app",
            "“https://docs.example.com/app” has a path or query: give only scheme://host[:port].",
        ),
        ("https://docs.example.com:99999", "“https://docs.example.com:99999” has an invalid port."),
        ("javascript:alert(1)", "“javascript:alert(1)” is not an origin: use https://example.com."),
        # Hosts no browser sends in an Origin header: saved, they would never match
        (
            "https://*.example.com",
            "“https://*.example.com”: wildcards are not supported. List each origin, one per line.",
        ),
        ("https://exa mple.com", "“https://exa mple.com” has a host name that is not a domain."),
        ("https://shop..example", "“https://shop..example” has a host name that is not a domain."),
        ("https://-shop.example", "“https://-shop.example” has a host name that is not a domain."),
        ("http://[::1::2]:8000", "“http://[::1::2]:8000” has a host name that is not a domain."),
    ],
)
def test_a_bad_origin_is_an_inline_error_and_nothing_is_created(
    login, owner, account, create_url, origins, message
):
    response = login(owner).post(create_url, {"name": "Docs", "allowed_origins": origins})

    assert response.status_code == 400
    assert response.context["form"].errors["allowed_origins"] == [message]
    assert message in response.content.decode()
    assert _sites(account) == []


def test_ip_address_origins_are_kept_as_browsers_send_them(login, owner, account, create_url):
    origins = "http://127.0.0.1:8000\nhttp://[0:0:0:0:0:0:0:1]:8000\nhttps://under_score.example"
    login(owner).post(create_url, {"name": "Local", "allowed_origins": origins})

    site = Site.objects.get(account=account)
    assert site.allowed_origins == [
        "http://127.0.0.1:8000",
        "http://[::1]:8000",
        "https://under_score.example",
    ]
    assert origin_allowed("http://[::1]:8000", site.allowed_origins)
    # An Origin header no browser sends is refused, never an error
    for header in ["http://[::1::2]:8000", "http://[x]", "https://*.example", "null"]:
        assert not origin_allowed(header, site.allowed_origins)


def test_a_missing_name_is_an_inline_error(login, owner, account, create_url):
    response = login(owner).post(create_url, {"name": "", "allowed_origins": ""})

    assert response.status_code == 400
    assert response.context["form"].errors["name"] == ["This field is required."]
    assert _sites(account) == []


def test_member_cannot_create_a_site(login, member, account, create_url):
    client = login(member)

    page = client.get(create_url)
    response = client.post(create_url, {"name": "Docs", "allowed_origins": ""})

    assert page.status_code == 403
    assert response.status_code == 403
    assert _sites(account) == []
    # the refusal keeps the account's menu, so the member can go back to its pages
    assert page.context["current_account"] == account
    assert "This needs the admin role or higher." in page.content.decode()


def test_the_list_shows_only_this_accounts_sites(login, member, account, site, other_site):
    response = login(member).get(reverse("sites:list", args=[account.slug]))

    assert [s.key for s in response.context["sites"]] == [site.key]
    html = response.content.decode()
    assert site.key in html
    assert other_site.key not in html
    assert "Other shop" not in html
    assert "Add a site" not in html  # members do not create sites


def test_the_list_says_when_the_plan_pauses_enabled_user_attributes(login, member, account, site):
    SiteFactory(account=account, name="Blog", user_attributes_enabled=False)
    url = reverse("sites:list", args=[account.slug])
    assert login(member).get(url).content.decode().count(">Enabled</span>") == 1

    account.tier = Account.Tier.PLUS
    account.save(update_fields=["tier"])
    html = login(member).get(url).content.decode()

    assert ">Enabled</span>" not in html
    assert html.count(">Paused by the plan</span>") == 1
    assert html.count(">Disabled</span>") == 1


# --- install page -------------------------------------------------------------------


def test_install_page_shows_the_snippet_with_the_queue_stub_and_script_tag(
    login, member, site, detail_url
):
    response = login(member).get(detail_url)

    assert response.status_code == 200
    assert response.context["snippet"] == (
        "<script>\n"
        f"{QUEUE_STUB}\n"
        f"{QUEUE_KEPT}\n"
        "</script>\n"
        f'<script async src="http://127.0.0.1:8000/t/{site.key}.js"></script>'
    )
    html = response.content.decode()
    assert f"{QUEUE_STUB}\n{QUEUE_KEPT}" in html
    assert f"&lt;script async src=&quot;http://127.0.0.1:8000/t/{site.key}.js&quot;&gt;" in html
    assert 'data-copy-target="#install-snippet">Copy</button>' in html
    # members read the install page but get no settings or delete button
    assert response.context["form"] is None
    assert "Delete site" not in html


def test_install_page_uses_the_public_base_url(login, member, site, detail_url, settings):
    settings.COHORT_PUBLIC_BASE_URL = "https://cohort.example.com/"

    response = login(member).get(detail_url)

    assert f'src="https://cohort.example.com/t/{site.key}.js"' in response.context["snippet"]


def test_a_site_made_without_origins_is_told_to_add_them_first(login, owner, account, create_url):
    response = login(owner).post(create_url, {"name": "Docs", "allowed_origins": ""}, follow=True)

    assert "Add the addresses your pages run on to its allowed origins" in (
        response.content.decode()
    )
    assert "Paste the snippet into your pages." not in response.content.decode()


@pytest.mark.parametrize(
    ("tier", "enabled", "refusal"),
    [
        ("basic", True, "Identify calls are refused for now: User Attributes need the Business"),
        ("business", False, "Identify calls are refused until User Attributes are enabled"),
        ("business", True, None),
    ],
)
def test_the_install_page_says_when_identify_calls_are_refused(
    login, member, account, site, detail_url, tier, enabled, refusal
):
    account.tier = tier
    account.save(update_fields=["tier"])
    site.user_attributes_enabled = enabled
    site.save(update_fields=["user_attributes_enabled"])

    html = login(member).get(detail_url).content.decode()

    assert ('id="identify-refused"' in html) is (refusal is not None)
    assert refusal is None or refusal in html


def test_the_install_page_links_its_members_to_the_demo_shop(login, member, site, detail_url):
    client = login(member)
    html = client.get(detail_url).content.decode()

    link = f'href="/demo/{site.key}/?cohortDebug=1" id="demo-page-link"'
    assert link in html
    assert client.get(f"/demo/{site.key}/").status_code == 200


# --- settings -----------------------------------------------------------------------


@pytest.mark.parametrize("role_fixture", ["owner", "admin_user"])
def test_owner_and_admin_update_the_settings(request, login, site, detail_url, role_fixture):
    key = site.key
    client = login(request.getfixturevalue(role_fixture))

    response = client.post(
        detail_url, {"name": "Main shop (EU)", "allowed_origins": "https://eu.example.com"}
    )

    assert response.status_code == 302
    assert response["Location"] == detail_url
    site.refresh_from_db()
    assert (site.key, site.name, site.allowed_origins) == (
        key,
        "Main shop (EU)",
        ["https://eu.example.com"],
    )


def test_a_bad_origin_in_settings_changes_nothing(login, owner, site, detail_url):
    response = login(owner).post(detail_url, {"name": "Renamed", "allowed_origins": "nope"})

    assert response.status_code == 400
    assert "“nope” is not an origin: use https://example.com." in response.content.decode()
    site.refresh_from_db()
    assert (site.name, site.allowed_origins) == ("Main shop", ["https://shop.example.com"])


def test_member_cannot_update_the_settings(login, member, account, detail_url):
    before = _sites(account)

    response = login(member).post(detail_url, {"name": "Mine now", "allowed_origins": ""})

    assert response.status_code == 403
    assert _sites(account) == before


@pytest.mark.parametrize("page", ["create", "settings", "delete"])
def test_an_empty_post_is_a_bound_form_with_required_errors(
    login, owner, account, other_account, create_url, detail_url, delete_url, page
):
    # given the sites of both tenants as they are
    before, other_before = _sites(account), _sites(other_account)
    url, field = {
        "create": (create_url, "name"),
        "settings": (detail_url, "name"),
        "delete": (delete_url, "confirm_name"),
    }[page]

    # when the form is sent with nothing in it
    response = login(owner).post(url, {})

    # then it comes back as a refused form, and nothing changed
    assert response.status_code == 400
    assert response.context["form"].is_bound
    assert response.context["form"].errors[field] == ["This field is required."]
    assert "This field is required." in response.content.decode()
    assert (_sites(account), _sites(other_account)) == (before, other_before)


# --- delete -------------------------------------------------------------------------


def test_delete_asks_for_the_name_and_removes_the_site(
    login, owner, account, other_account, site, delete_url
):
    other_before = _sites(other_account)
    client = login(owner)

    page = client.get(delete_url)
    response = client.post(delete_url, {"confirm_name": "Main shop"}, follow=True)

    assert page.status_code == 200
    assert "Type the site name to confirm" in page.content.decode()
    assert response.redirect_chain == [(reverse("sites:list", args=[account.slug]), 302)]
    assert "Main shop and all of its data were deleted." in response.content.decode()
    assert _sites(account) == []
    assert _sites(other_account) == other_before


def test_a_name_is_kept_as_it_reads(login, owner, account, create_url):
    login(owner).post(create_url, {"name": "  Main \t  Shop  ", "allowed_origins": ""})

    assert Site.objects.get(account=account).name == "Main Shop"


def test_a_name_stored_with_a_run_of_spaces_is_confirmed_as_the_page_shows_it(
    login, owner, account, site, delete_url
):
    Site.objects.filter(pk=site.pk).update(name="Main  shop")

    response = login(owner).post(delete_url, {"confirm_name": "Main shop"})

    assert response.status_code == 302
    assert _sites(account) == []


@pytest.mark.parametrize("typed", ["", "main shop", "Other shop", "Main"])
def test_a_wrong_name_deletes_nothing(login, admin_user, account, delete_url, typed):
    before = _sites(account)

    response = login(admin_user).post(delete_url, {"confirm_name": typed})

    assert response.status_code == 400
    error = (
        "This field is required."
        if typed == ""
        else "The name does not match; nothing was deleted."
    )
    assert response.context["form"].errors["confirm_name"] == [error]
    assert error in response.content.decode()
    assert _sites(account) == before


def test_htmx_get_of_delete_returns_the_dialog_partial(login, owner, site, delete_url):
    client = login(owner)

    partial = client.get(delete_url, headers={"HX-Request": "true"})
    full = client.get(delete_url)

    assert partial.status_code == 200
    assert partial.templates[0].name == "sites/partials/_delete_dialog.html"
    html = partial.content.decode()
    assert html.startswith('<dialog aria-labelledby="delete-title">')
    assert "<html" not in html
    assert f'action="{delete_url}"' in html
    assert full.templates[0].name == "sites/delete.html"
    assert "<html" in full.content.decode()
    assert partial["Vary"] == full["Vary"]
    assert "HX-Request" in partial["Vary"]


def test_detail_page_links_delete_for_htmx_and_plain_browsers(login, owner, delete_url, detail_url):
    html = login(owner).get(detail_url).content.decode()

    assert f'href="{delete_url}"' in html
    assert f'hx-get="{delete_url}"' in html


def test_member_cannot_delete_a_site(login, member, account, delete_url):
    before = _sites(account)
    client = login(member)

    page = client.get(delete_url)
    response = client.post(delete_url, {"confirm_name": "Main shop"})

    assert page.status_code == 403
    assert response.status_code == 403
    assert _sites(account) == before


def test_a_unicode_domain_is_kept_as_browsers_send_it(login, owner, site, detail_url, api_client):
    origins = "https://Bücher.example\nhttps://faß.de"
    login(owner).post(detail_url, {"name": site.name, "allowed_origins": origins})
    site.refresh_from_db()
    assert site.allowed_origins == ["https://xn--bcher-kva.example", "https://xn--fa-hia.de"]

    body = {"visitor_id": "v" * 32, "session_id": "s" * 32, "url": "https://bücher.example/"}
    path = f"/api/v1/sites/{site.key}/sessions"
    sent = api_client.post(path, body, format="json", HTTP_ORIGIN="https://xn--bcher-kva.example")
    assert sent.status_code == 200
    assert sent["Access-Control-Allow-Origin"] == "https://xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("index", "section", "per_site"),
    [
        ("lookup:index", "Visitor Lookup", "People are looked up site by site"),
        ("user_attributes:index", "User Attributes", "User Attributes are set per site"),
        ("widgets:index", "Polls and Incoming Feedback", "Widgets run on a site"),
    ],
)
def test_a_section_of_an_account_without_sites_says_so_in_its_own_words(
    login, owner, member, account, index, section, per_site
):
    url = reverse(index, args=[account.slug])

    page = login(owner).get(url).content.decode()
    members_page = login(member).get(url).content.decode()

    assert f"<h1>{section}</h1>" in page
    assert f"{per_site}, and this account has no site yet." in page
    assert reverse("sites:create", args=[account.slug]) in page
    assert reverse("sites:create", args=[account.slug]) not in members_page
    assert "An owner or admin of Radbooks adds sites." in members_page
