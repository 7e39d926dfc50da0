import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.common.demo import demo_seed


class Command(BaseCommand):
    help = "Create the demo account, login and site (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the demo facts as JSON.")
        parser.add_argument(
            "--base-url",
            default=None,
            help="Where the app is served (default: where the demo site was last served, "
            "else COHORT_PUBLIC_BASE_URL).",
        )

    def handle(self, *args, **options):
        if not settings.COHORT_DEMO_DATA:
            raise CommandError(
                "seed_demo is off here: it creates an owner login whose password is public "
                "(README). Set COHORT_DEMO_DATA=true to create it anyway."
            )
        facts = demo_seed(base_url=options["base_url"])
        if options["json"]:
            self.stdout.write(json.dumps(facts))
            return
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        for key, value in facts.items():
            self.stdout.write(f"  {key:13} {value}")
