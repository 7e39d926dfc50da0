"""The index on the lowered user id covers every profile: PostgreSQL's planner reads an
expression's statistics only from an index of the whole table. Built from the partial one
of 0006 without blocking identify's writes (CONCURRENTLY on PostgreSQL, hence not
atomic), then the table analysed."""

from django.db import migrations, models
from django.db.models.functions import Lower

from apps.common.migration_ops import index_replaced_concurrently, table_analyzed


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("identity", "0006_profiles_found_by_lowered_user_id")]

    operations = [
        index_replaced_concurrently(
            "identity",
            "profile",
            old=models.Index(
                models.F("site"),
                Lower("user_id"),
                condition=models.Q(user_id__isnull=False),
                name="profile_site_user_lower",
            ),
            new=models.Index(models.F("site"), Lower("user_id"), name="profile_site_user_lowered"),
        ),
        # The expression's statistics now, not at autovacuum's next pass: until then the
        # planner would read every profile for a lookup by email.
        table_analyzed("identity", "profile"),
    ]
