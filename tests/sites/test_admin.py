"""Staff fix a site's name and origins, or delete it with its data, from the admin."""

import pytest
from django.urls import reverse

from apps.identity.models import Profile
from apps.sites.models import Site
from apps.sites.selectors import site_tables
from tests.common.admin_forms import admin_form_data
from tests.factories import ProfileFactory
from tests.feedback_targeting.factories import QuestionFactory, WidgetFactory


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def _change(staff_client, site, **changes):
    url = reverse("admin:sites_site_change", args=[site.pk])
    data = admin_form_data(staff_client.get(url))
    data.update(changes)
    return staff_client.post(url, data)


def test_staff_rename_a_site_and_fix_its_origins(staff_client, site, other_site):
    response = _change(
        staff_client,
        site,
        name="Main shop (EU)",
        allowed_origins="https://Shop.Example.com/\nhttp://localhost:3000",
    )

    assert response.status_code == 302
    site.refresh_from_db()
    assert site.name == "Main shop (EU)"
    assert site.allowed_origins == ["https://shop.example.com", "http://localhost:3000"]
    other_site.refresh_from_db()
    assert (other_site.name, other_site.allowed_origins) == (
        "Other shop",
        ["https://shop.example.com"],
    )


def test_an_invalid_origin_is_an_inline_error_and_nothing_changes(staff_client, site):
    response = _change(staff_client, site, allowed_origins="ftp://shop.example.com")

    assert response.status_code == 200
    assert "is not an origin: use https://example.com." in response.content.decode()
    site.refresh_from_db()
    assert site.allowed_origins == ["https://shop.example.com"]


def test_the_key_account_and_user_attributes_switch_are_read_only(
    staff_client, site, other_account
):
    key = site.key
    response = _change(
        staff_client,
        site,
        key="chosen-by-staff",
        account=str(other_account.pk),
        user_attributes_enabled="",
    )

    assert response.status_code == 302
    site.refresh_from_db()
    assert (site.key, site.account_id, site.user_attributes_enabled) == (key, site.account_id, True)
    assert site.account.slug == "radbooks"


def test_staff_delete_a_site_with_its_data(
    staff_client, site, other_site, django_capture_on_commit_callbacks
):
    # given a profile on each tenant's site
    ProfileFactory(site=site, user_id="abc")
    ProfileFactory(site=other_site, user_id="abc")

    # when staff delete the first site (its page counts what goes, without listing it)
    url = reverse("admin:sites_site_delete", args=[site.pk])
    confirm = staff_client.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):  # its rows erased then
        response = staff_client.post(url, {"post": "yes"})

    # then it is gone with its profile; the other tenant keeps everything
    assert "<li>Profiles: 1</li>" in confirm
    assert "Profile: " not in confirm
    assert response.status_code == 302
    assert list(Site.with_deleted.values_list("name", flat=True)) == ["Other shop"]
    assert list(Profile.objects.values_list("site__name", "user_id")) == [("Other shop", "abc")]


def test_the_delete_page_counts_every_kind_of_row_the_deletion_empties(staff_client, site):
    """Questions, message ids and rejected-key counts go with the site too: the page
    counts each table the deletion empties, as the deletion finds them."""
    QuestionFactory(widget=WidgetFactory(site=site), position=0)

    confirm = staff_client.get(reverse("admin:sites_site_delete", args=[site.pk]))

    page = confirm.content.decode()
    _, owned = site_tables()
    for model in owned:
        assert f"<li>{str(model._meta.verbose_name_plural).capitalize()}: " in page
    assert "<li>Questions: 1</li>" in page


def test_sites_are_not_added_in_the_admin(staff_client):
    assert staff_client.get(reverse("admin:sites_site_add")).status_code == 403


def test_site_list_search_by_key_and_account(staff_client, site, other_site):
    url = reverse("admin:sites_site_changelist")

    by_key = staff_client.get(url, {"q": other_site.key})
    by_account = staff_client.get(url, {"q": "radbooks"})

    assert [s.pk for s in by_key.context["cl"].result_list] == [other_site.pk]
    assert [s.pk for s in by_account.context["cl"].result_list] == [site.pk]
