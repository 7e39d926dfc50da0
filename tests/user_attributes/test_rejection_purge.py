"""Rejected-attribute counts are kept for the days the settings page shows, then the daily
`purge_expired` forgets them with the message ids."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.identity.models import ProcessedMessage
from apps.user_attributes.models import AttributeRejection
from apps.user_attributes.selectors import REJECTION_DAYS, rejection_summary
from tests.clock import clear_of_utc_midnight

pytestmark = pytest.mark.django_db


def test_the_daily_purge_forgets_what_is_past_its_window(site, other_site):
    clear_of_utc_midnight()
    today = timezone.now().date()
    for n, days in enumerate((0, REJECTION_DAYS - 1, REJECTION_DAYS, 40)):
        for s in (site, other_site):
            AttributeRejection.objects.create(
                site=s,
                day=today - timedelta(days=days),
                key=f"Jane Doe phone {n}",
                reason="email_outside_email_key",
                count=1,
            )
    ProcessedMessage.objects.create(
        site=site, message_id="old".ljust(20, "x"), created_at=timezone.now() - timedelta(days=30)
    )
    shown = rejection_summary(site=site)

    out = StringIO()
    call_command("purge_expired", stdout=out)

    kept = sorted(AttributeRejection.objects.filter(site=site).values_list("key", flat=True))
    assert kept == ["Jane Doe phone 0", "Jane Doe phone 1"]
    assert AttributeRejection.objects.filter(site=other_site).count() == 2
    assert rejection_summary(site=site) == shown  # the page loses nothing it showed
    assert not ProcessedMessage.objects.exists()
    assert "Forgot 1 message ids" in out.getvalue()
    assert "and 4 rejected-attribute counts older than 7 days" in out.getvalue()
