from django.conf import settings
from django.core.management.base import BaseCommand

from apps.identity.services import processed_messages_purge


class Command(BaseCommand):
    help = (
        "Forget message ids older than COHORT_MESSAGE_RETENTION_DAYS, which identify and "
        "session calls keep to acknowledge retries. Run it daily."
    )

    def handle(self, *args, **options):
        purged = processed_messages_purge()
        self.stdout.write(
            self.style.SUCCESS(
                f"Forgot {purged} message ids older than "
                f"{settings.COHORT_MESSAGE_RETENTION_DAYS} days."
            )
        )
