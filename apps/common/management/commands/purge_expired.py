from django.conf import settings
from django.core.management.base import BaseCommand

from apps.identity.services import processed_messages_purge
from apps.sites.selectors import sites_awaiting_erasure
from apps.sites.services import sites_erase
from apps.user_attributes.selectors import REJECTION_DAYS
from apps.user_attributes.services import rejections_purge


class Command(BaseCommand):
    help = (
        "Forget what Cohort keeps only for a while: message ids older than "
        "COHORT_MESSAGE_RETENTION_DAYS, and rejected-attribute counts older than the "
        "settings page shows; and erase what deleted sites still hold (a large site's "
        "deletion leaves most of its rows here). Run it every hour."
    )

    def handle(self, *args, **options):
        messages = processed_messages_purge()
        rejections = rejections_purge()
        erased = sites_erase()
        left = sites_awaiting_erasure()
        self.stdout.write(
            self.style.SUCCESS(
                f"Forgot {messages} message ids older than "
                f"{settings.COHORT_MESSAGE_RETENTION_DAYS} days and {rejections} "
                f"rejected-attribute counts older than {REJECTION_DAYS} days; erased "
                f"the data of {erased} deleted sites."
            )
        )
        if left:
            # A site deleted while this ran, or whose erasure met calls still writing to
            # it each time: the next run goes on.
            self.stdout.write(self.style.WARNING(f"{left} deleted sites still hold data."))
