"""Deleting a site removes every row it holds, table by table, in a number of statements
that does not grow with its data; records kept beyond it lose only their link to it."""

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.services import account_delete
from apps.consent.models import ConsentRecord
from apps.identity.models import PrivacyAudit, Profile, Visitor
from apps.sites.models import Site
from apps.sites.selectors import site_tables
from apps.sites.services import site_delete, sites_erase
from tests.consent.factories import ConsentRecordFactory
from tests.factories import (
    AttributeKeyFactory,
    AttributeRejectionFactory,
    AttributeValueFactory,
    PrivacyAuditFactory,
    ProcessedMessageFactory,
    ProfileFactory,
    SessionFactory,
    SiteFactory,
    VisitorFactory,
)
from tests.feedback_targeting.factories import QuestionFactory, ResponseFactory, WidgetFactory

pytestmark = pytest.mark.django_db


def _fill(site) -> None:
    """One row of every kind the site can hold."""
    profile = ProfileFactory(site=site)
    visitor = VisitorFactory(site=site, profile=profile)
    SessionFactory(site=site, visitor=visitor, profile=profile)
    AttributeValueFactory(site=site, profile=profile)
    AttributeKeyFactory(site=site)
    AttributeRejectionFactory(site=site)
    ProcessedMessageFactory(site=site)
    widget = WidgetFactory(site=site)
    QuestionFactory(widget=widget)
    ResponseFactory(widget=widget, visitor=visitor, profile=profile)
    PrivacyAuditFactory(site=site)
    ConsentRecordFactory(site=site)


def _rows(site_id: int) -> dict[str, int]:
    kept, owned = site_tables()
    return {m._meta.label: m.objects.filter(site_id=site_id).count() for m in kept + owned}


def test_every_row_of_the_site_goes_and_the_other_sites_stay(site, other_site):
    _fill(site)
    _fill(other_site)
    others = _rows(other_site.pk)
    deleted = site.pk

    site_delete(site=site)

    assert not Site.objects.filter(pk=deleted).exists()
    assert set(_rows(deleted).values()) == {0}
    assert _rows(other_site.pk) == others
    assert set(others.values()) == {1}
    # the audit trails outlive the site, without their link to it
    assert PrivacyAudit.objects.filter(site=None, site_name="Main shop").count() == 1
    assert ConsentRecord.objects.filter(site=None, site_name="Main shop").count() == 1


def test_every_tenant_table_is_known_to_the_deletion():
    kept, owned = site_tables()

    labels = {m._meta.label for m in kept + owned}

    assert {"identity.Profile", "identity.Visitor", "user_attributes.AttributeValue"} <= labels
    # a row goes before the rows it points at
    order = [m._meta.label for m in owned]
    assert order.index("identity.Visitor") < order.index("identity.Profile")
    assert order.index("feedback_targeting.Response") < order.index("identity.Visitor")
    assert order.index("feedback_targeting.Question") < order.index("feedback_targeting.Widget")


def _people(site, count: int) -> None:
    """`count` identified people on the site, each with a device."""
    now = timezone.now()
    profiles = Profile.objects.bulk_create(
        Profile(site=site, user_id=f"u{n}", created_at=now, updated_at=now) for n in range(count)
    )
    Visitor.objects.bulk_create(
        Visitor(
            site=site,
            visitor_id=f"d{n}".ljust(32, "x"),
            profile=p,
            first_seen_at=now,
            last_seen_at=now,
        )
        for n, p in enumerate(profiles)
    )


def _statements_to_delete(site, people: int) -> int:
    _people(site, people)
    with CaptureQueriesContext(connection) as queries:
        site_delete(site=site)
    return len(queries)


def test_the_statements_do_not_grow_with_the_sites_people(site, other_site):
    """Django's cascade read every profile and visitor and deleted their rows by batches
    of ids: a large site took thousands of statements, far past a request's time."""
    assert _statements_to_delete(site, 3) == _statements_to_delete(other_site, 2_500)


@pytest.mark.usefixtures("on_postgres")
@override_settings(COHORT_SITE_ERASE_SECONDS=60)  # all in the call, however busy the machine
def test_an_account_whose_site_holds_more_people_than_a_statement_takes_is_deleted(
    other_site,
):
    """More rows than one PostgreSQL statement takes parameters for (65,535, with
    parameters bound on the server)."""
    site = SiteFactory()
    _people(site, 70_000)
    kept = ProfileFactory(site=other_site, user_id="u1")

    sites_erase(site_ids=account_delete(account=site.account))

    assert not Site.objects.filter(pk=site.pk).exists()
    assert not Profile.objects.filter(site_id=site.pk).exists()
    assert not Visitor.objects.filter(site_id=site.pk).exists()
    assert Profile.objects.filter(pk=kept.pk).exists()
