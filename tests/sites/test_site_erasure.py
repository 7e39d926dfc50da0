"""A site's deletion takes it away at once and erases its rows within the request's time,
leaving what does not fit (a large site's) to `manage.py purge_expired`: the page
answers in time and the site is never half there. (A site of a million people took about
40 s to delete in one transaction, past the 30 s after which gunicorn kills a worker,
which rolled the deletion back: such a site could not be deleted at all.)"""

import threading
import time
from io import StringIO

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.http import Http404
from django.test import override_settings
from django.urls import reverse

from apps.accounts.models import Account, AccountEvent
from apps.accounts.services import account_delete, api_token_create
from apps.consent.services import user_attributes_disable
from apps.identity.models import PrivacyAudit, Profile, Visitor
from apps.identity.services import person_lookup_record
from apps.sites.models import Site
from apps.sites.selectors import site_tables, sites_awaiting_erasure
from apps.sites.services import site_delete, site_update, sites_erase, sites_retire
from tests.factories import ProfileFactory, SessionFactory, SiteFactory, VisitorFactory
from tests.locks import held_elsewhere
from tests.sites.test_site_deletion import _fill, _rows

pytestmark = pytest.mark.django_db

# No time at all: nothing is erased in the request, as for a site too large for it.
out_of_time = override_settings(COHORT_SITE_ERASE_SECONDS=0)


def _purge() -> str:
    out = StringIO()
    call_command("purge_expired", stdout=out)
    return out.getvalue()


@out_of_time
def test_a_site_deleted_out_of_time_is_gone_at_once_and_the_purge_erases_its_rows(site, other_site):
    _fill(site)
    _fill(other_site)
    others = _rows(other_site.pk)

    erased = site_delete(site=site)

    # gone for everyone at once, its rows waiting, the deletion recorded
    assert erased is False
    assert not Site.objects.filter(pk=site.pk).exists()
    assert Site.with_deleted.get(pk=site.pk).deleted_at is not None
    assert _rows(site.pk)["identity.Profile"] == 1
    assert sites_awaiting_erasure() == 1
    assert AccountEvent.objects.filter(
        action=AccountEvent.Action.SITE_DELETED, subject="Main shop"
    ).exists()
    # the records kept beyond the site lose their link at once
    assert PrivacyAudit.objects.filter(site=None, site_name="Main shop").count() == 1

    said = _purge()

    assert "erased the data of 1 deleted sites" in said
    assert set(_rows(site.pk).values()) == {0}
    assert not Site.with_deleted.filter(pk=site.pk).exists()
    assert sites_awaiting_erasure() == 0
    assert _rows(other_site.pk) == others


@out_of_time
def test_the_page_says_the_data_is_still_being_erased_and_the_site_is_gone(
    login, owner, account, site
):
    ProfileFactory(site=site, user_id="abc")
    client = login(owner)

    response = client.post(
        reverse("sites:delete", args=[account.slug, site.key]),
        {"confirm_name": "Main shop"},
        follow=True,
    )

    html = response.content.decode()
    assert "Main shop was deleted: nothing of it can be seen or reached any more." in html
    assert "finishes within the hour" in html
    assert "all of its data were deleted" not in html
    assert site.key not in html  # not in the list of sites
    assert client.get(reverse("sites:detail", args=[account.slug, site.key])).status_code == 404
    assert Profile.objects.filter(site_id=site.pk).exists()  # waiting for the purge


@out_of_time
def test_a_deleted_sites_keys_answer_nothing_while_its_rows_wait(api_client, site, owner):
    visitor = "tablet123tablet123tablet123aaaaa"
    _, token = api_token_create(account=site.account, user=owner, name="privacy")
    ProfileFactory(site=site, user_id="ABC")

    site_delete(site=site)

    identify = api_client.post(
        f"/api/v1/sites/{site.key}/identify",
        {"visitor_id": visitor, "user_id": "ABC", "attributes": {"plan": "gold"}},
        format="json",
    )
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    lookup = api_client.get(f"/api/v1/sites/{site.key}/lookup?user_id=ABC")
    assert (identify.status_code, identify.json()["code"]) == (404, "unknown_site")
    assert (lookup.status_code, lookup.json()["code"]) == (404, "unknown_site")
    assert "ABC" not in lookup.content.decode()


@out_of_time
def test_an_account_deleted_out_of_time_leaves_its_sites_rows_to_the_purge(site, other_site):
    _fill(site)
    others = _rows(other_site.pk)

    waiting = account_delete(account=site.account)

    assert waiting == [site.pk]
    assert not Account.objects.filter(pk=site.account_id).exists()
    retired = Site.with_deleted.get(pk=site.pk)
    assert (retired.account_id, retired.deleted_at is not None) == (None, True)

    _purge()

    assert set(_rows(site.pk).values()) == {0}
    assert not Site.with_deleted.filter(pk=site.pk).exists()
    assert _rows(other_site.pk) == others


def test_in_time_a_deletion_leaves_nothing_to_the_purge(site):
    _fill(site)

    assert site_delete(site=site) is True

    assert not Site.with_deleted.filter(pk=site.pk).exists()
    assert set(_rows(site.pk).values()) == {0}
    assert sites_awaiting_erasure() == 0


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@out_of_time
@pytest.mark.django_db(transaction=True)  # the erasure runs once the admin's work commits
def test_staff_are_told_the_erasure_goes_on_and_no_longer_list_the_sites_rows(
    staff_client, site, other_site
):
    _fill(site)
    _fill(other_site)

    response = staff_client.post(
        reverse("admin:sites_site_delete", args=[site.pk]), {"post": "yes"}, follow=True
    )

    assert "erasing their data takes longer" in response.content.decode()
    _, owned = site_tables()
    for model in owned:
        listed = admin.site._registry[model].get_queryset(response.wsgi_request)
        assert set(listed.values_list("site_id", flat=True)) == {other_site.pk}, model


# --- on PostgreSQL: a statement still running at the deadline ----------------------------


@pytest.mark.usefixtures("on_postgres")
@pytest.mark.django_db(transaction=True)
@override_settings(COHORT_SITE_ERASE_SECONDS=0.5)
def test_a_statement_still_running_at_the_deadline_is_cancelled_and_the_purge_goes_on():
    """A table's statement that would run past the request's time (here: waiting for a
    row another transaction holds) is cancelled; the tables erased before it stay erased
    and the purge erases the rest."""
    site = SiteFactory()
    profile = ProfileFactory(site=site)
    visitor = VisitorFactory(site=site, profile=profile)
    session = SessionFactory(site=site, visitor=visitor, profile=profile)
    _fill(site)
    before = _rows(site.pk)

    started = time.monotonic()
    with held_elsewhere("SELECT id FROM identity_session WHERE id = %s FOR UPDATE", [session.pk]):
        erased = site_delete(site=site)
    took = time.monotonic() - started

    left = _rows(site.pk)
    assert erased is False
    assert took < 1.5
    assert left["identity.Session"] == before["identity.Session"]  # cancelled, kept whole
    assert left["identity.ProcessedMessage"] == 0  # erased before it, stays erased
    assert left["identity.Profile"] == before["identity.Profile"]

    assert sites_erase() == 1
    assert set(_rows(site.pk).values()) == {0}
    assert not Site.with_deleted.filter(pk=site.pk).exists()


@pytest.mark.usefixtures("on_postgres")
@pytest.mark.django_db(transaction=True)
def test_a_row_written_during_the_erasure_by_a_call_that_found_the_site_goes_too():
    """A call that read the site before its deletion writes a device for a profile while
    the devices are being erased: the profiles' erasure meets it, and the erasure starts
    over rather than fail."""
    site = SiteFactory()
    profile = ProfileFactory(site=site)
    VisitorFactory(site=site, profile=profile)
    written = threading.Event()

    def late_call(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith('DELETE FROM "identity_visitor"') and not written.is_set():
            written.set()
            other = connections.create_connection("default")
            try:
                with other.cursor() as cursor:  # committed: autocommit
                    cursor.execute(
                        "INSERT INTO identity_visitor (site_id, visitor_id, profile_id, "
                        "first_seen_at, last_seen_at) VALUES (%s, %s, %s, now(), now())",
                        [site.pk, "late".ljust(32, "x"), profile.pk],
                    )
            finally:
                other.close()
        return result

    with transaction.atomic():
        sites_retire(site_ids=[site.pk])
    with connection.execute_wrapper(late_call):
        erased = sites_erase(site_ids=[site.pk])

    assert written.is_set()
    assert erased == 1
    assert not Visitor.objects.filter(site_id=site.pk).exists()
    assert not Profile.objects.filter(site_id=site.pk).exists()
    assert not Site.with_deleted.filter(pk=site.pk).exists()


@out_of_time
@pytest.mark.django_db(transaction=True)
def test_a_lookup_recorded_after_the_deletion_stops_no_erasure(site, owner):
    """A Visitor Lookup that read the site just before its deletion records its audit
    entry, naming the site, after the deletion unlinked the others: the erasure unlinks
    it too, and goes on to the sites deleted later."""
    ProfileFactory(site=site, user_id="abc")
    with transaction.atomic():
        sites_retire(site_ids=[site.pk])
    person_lookup_record(site=site, user_id="abc", email=None, requested_by=owner, channel="page")
    later = SiteFactory(account=site.account, name="Later")
    site_delete(site=later)

    said = _purge()

    assert "erased the data of 2 deleted sites" in said
    assert not Site.with_deleted.filter(pk__in=[site.pk, later.pk]).exists()
    assert PrivacyAudit.objects.filter(site=None, site_name="Main shop").count() == 1


def test_a_site_deleted_meanwhile_is_not_changed_and_nothing_is_recorded(site, owner):
    read_before = Site.objects.get(pk=site.pk)
    site_delete(site=site)
    events = AccountEvent.objects.count()

    with pytest.raises(Http404):
        site_update(site=read_before, name="Renamed", allowed_origins=[])
    with pytest.raises(Http404):
        user_attributes_disable(site=read_before, user=owner, client_ip=None)

    assert AccountEvent.objects.count() == events


@pytest.mark.usefixtures("on_postgres")
def test_the_migration_keeps_the_accounts_foreign_key_in_place():
    """Making the account optional is one ALTER COLUMN: Django's own drops the foreign
    key and adds it back, checking every site under the table's lock."""
    out = StringIO()
    call_command("sqlmigrate", "sites", "0002", stdout=out)

    sql = out.getvalue()
    assert 'ALTER COLUMN "account_id" DROP NOT NULL' in sql
    assert "DROP CONSTRAINT" not in sql
    assert "FOREIGN KEY" not in sql


@pytest.mark.usefixtures("on_postgres")
@pytest.mark.django_db(transaction=True)
@override_settings(COHORT_SITE_ERASE_SECONDS=0.5)
def test_staff_deleting_several_sites_at_once_share_one_requests_time(staff_client, account):
    """Each site's erasure had its own time: four large sites took four times as long,
    past the worker's timeout."""
    sites = [SiteFactory(account=account, name=f"Shop {n}") for n in range(4)]
    sessions = [SessionFactory(site=s).pk for s in sites]
    marks = ", ".join(["%s"] * len(sessions))

    started = time.monotonic()
    with held_elsewhere(
        f"SELECT id FROM identity_session WHERE id IN ({marks}) FOR UPDATE", sessions
    ):
        response = staff_client.post(
            reverse("admin:sites_site_changelist"),
            {"action": "delete_selected", "_selected_action": [s.pk for s in sites], "post": "yes"},
            follow=True,
        )
    took = time.monotonic() - started

    assert took < 1.6
    assert "erasing their data takes longer" in response.content.decode()
    assert not Site.objects.filter(pk__in=[s.pk for s in sites]).exists()
    assert sites_erase() == 4


@pytest.mark.usefixtures("on_postgres")
@pytest.mark.django_db(transaction=True)
def test_an_erasure_caught_in_a_deadlock_with_a_call_starts_over():
    """A call that read the site before its deletion holds a device row it changed and
    checks its new row's site at its commit, while the erasure holds the site and waits
    for the device: PostgreSQL ends one of them, and the erasure starts over."""
    site = SiteFactory()
    with transaction.atomic():
        sites_retire(site_ids=[site.pk])
    # A connection of its own, committed from a timer's thread.
    call = connection.get_new_connection(connection.get_connection_params())
    started = threading.Event()

    def call_meanwhile(execute, sql, params, many, context):
        if "sites_site" in sql and "FOR UPDATE" in sql and not started.is_set():
            started.set()
            with call.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO identity_visitor (site_id, visitor_id, first_seen_at, "
                    "last_seen_at) VALUES (%s, %s, now(), now()) RETURNING id",
                    [site.pk, "late".ljust(32, "x")],
                )
                visitor_id = cursor.fetchone()[0]
            call.commit()
            with call.cursor() as cursor:
                cursor.execute(
                    "UPDATE identity_visitor SET last_seen_at = now() WHERE id = %s", [visitor_id]
                )
                cursor.execute(
                    "INSERT INTO identity_processedmessage (site_id, message_id, created_at) "
                    "VALUES (%s, %s, now())",
                    [site.pk, "late-message"],
                )
            threading.Timer(0.3, call.commit).start()
        return execute(sql, params, many, context)

    try:
        with connection.execute_wrapper(call_meanwhile):
            erased = sites_erase(site_ids=[site.pk])
    finally:
        call.close()

    assert started.is_set()
    assert erased == 1
    assert not Visitor.objects.filter(site_id=site.pk).exists()
    assert not Site.with_deleted.filter(pk=site.pk).exists()
