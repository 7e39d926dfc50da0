"""A site or account with more rows than one PostgreSQL statement takes parameters for
(65,535, with parameters bound on the server) can still be deleted."""

import pytest
from django.utils import timezone

from apps.accounts.services import account_delete
from apps.identity.models import Profile, Visitor
from apps.sites.models import Site
from tests.factories import SiteFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("on_postgres")]

PEOPLE = 70_000


def test_an_account_whose_site_holds_more_people_than_a_statement_takes_is_deleted(
    other_site,
):
    site = SiteFactory()
    now = timezone.now()
    profiles = Profile.objects.bulk_create(
        Profile(site=site, user_id=f"u{n}", created_at=now, updated_at=now) for n in range(PEOPLE)
    )
    Visitor.objects.bulk_create(
        Visitor(
            site=site,
            visitor_id=f"device{n}".ljust(32, "x"),
            profile=profile,
            first_seen_at=now,
            last_seen_at=now,
        )
        for n, profile in enumerate(profiles)
    )
    kept = Profile.objects.create(site=other_site, user_id="u1", created_at=now, updated_at=now)

    account_delete(account=site.account)

    assert not Site.objects.filter(pk=site.pk).exists()
    assert not Profile.objects.filter(site_id=site.pk).exists()
    assert not Visitor.objects.filter(site_id=site.pk).exists()
    assert Profile.objects.filter(pk=kept.pk).exists()
