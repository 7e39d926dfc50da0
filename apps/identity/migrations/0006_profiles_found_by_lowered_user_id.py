"""An index on the lowered user id of identified profiles: Visitor Lookup by email finds
a user id that is the address whatever its letter case. Built without blocking identify's
writes to the profile table (CONCURRENTLY on PostgreSQL, hence not atomic)."""

from django.db import migrations, models
from django.db.models.functions import Lower

from apps.common.migration_ops import index_added_concurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("identity", "0005_audit_terms_keyed"), ("sites", "0001_initial")]

    operations = [
        index_added_concurrently(
            "identity",
            "profile",
            models.Index(
                models.F("site"),
                Lower("user_id"),
                condition=models.Q(user_id__isnull=False),
                name="profile_site_user_lower",
            ),
        )
    ]
