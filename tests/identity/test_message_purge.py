"""Message ids are remembered for the retention window, then forgotten by the daily purge."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from apps.identity.models import ProcessedMessage
from apps.identity.services import processed_messages_purge, visitor_identify

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
DEVICE = "device0000000000000000000000000a"

pytestmark = pytest.mark.django_db


def identify(site, message_id: str, at: datetime, value: int = 1) -> dict:
    return visitor_identify(
        site=site,
        visitor_id=DEVICE,
        user_id="ABC",
        attributes={"n": value},
        message_id=message_id,
        now=at,
    )


def remembered(site) -> list[str]:
    return sorted(ProcessedMessage.objects.filter(site=site).values_list("message_id", flat=True))


def test_ids_older_than_the_window_are_forgotten_on_every_site(site, other_site, settings):
    settings.COHORT_MESSAGE_RETENTION_DAYS = 7
    for n, days in enumerate((30, 8, 6, 0)):
        identify(site, f"site-{n}".ljust(20, "x"), NOW - timedelta(days=days))
    identify(other_site, "other-0".ljust(20, "x"), NOW - timedelta(days=9))

    assert processed_messages_purge(now=NOW) == 3

    assert remembered(site) == ["site-2".ljust(20, "x"), "site-3".ljust(20, "x")]
    assert remembered(other_site) == []


def test_a_retry_inside_the_window_is_acknowledged_and_after_it_applied_again(site, settings):
    settings.COHORT_MESSAGE_RETENTION_DAYS = 7
    message = "retry-me".ljust(20, "x")
    identify(site, message, NOW - timedelta(days=10), value=1)
    assert identify(site, message, NOW - timedelta(days=9), value=1)["duplicate"] is True

    processed_messages_purge(now=NOW)
    again = identify(site, message, NOW, value=1)

    assert "duplicate" not in again
    assert again["stored"] == ["n"]
    assert identify(site, message, NOW, value=1)["duplicate"] is True


def test_the_purge_goes_in_batches_until_nothing_old_is_left(site, settings):
    settings.COHORT_MESSAGE_RETENTION_DAYS = 1
    for n in range(7):
        identify(site, f"batch-{n}".ljust(20, "x"), NOW - timedelta(days=2, minutes=n))

    assert processed_messages_purge(now=NOW, batch_size=2) == 7
    assert remembered(site) == []


def test_the_command_reports_what_it_forgot(site, settings):
    settings.COHORT_MESSAGE_RETENTION_DAYS = 7
    identify(site, "ancient".ljust(20, "x"), datetime(2020, 1, 1, tzinfo=UTC))
    identify(site, "fresh".ljust(20, "x"), datetime.now(UTC))
    out = StringIO()

    call_command("purge_expired", stdout=out)

    assert out.getvalue().startswith("Forgot 1 message ids older than 7 days")
    assert remembered(site) == ["fresh".ljust(20, "x")]
