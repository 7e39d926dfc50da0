from django.conf import settings
from django.core.management.base import BaseCommand

from apps.identity.services import processed_messages_purge
from apps.user_attributes.selectors import REJECTION_DAYS
from apps.user_attributes.services import rejections_purge


class Command(BaseCommand):
    help = (
        "Forget what Cohort keeps only for a while: message ids older than "
        "COHORT_MESSAGE_RETENTION_DAYS, and rejected-attribute counts older than the "
        "settings page shows. Run it once a day."
    )

    def handle(self, *args, **options):
        messages = processed_messages_purge()
        rejections = rejections_purge()
        self.stdout.write(
            self.style.SUCCESS(
                f"Forgot {messages} message ids older than "
                f"{settings.COHORT_MESSAGE_RETENTION_DAYS} days and {rejections} "
                f"rejected-attribute counts older than {REJECTION_DAYS} days."
            )
        )
