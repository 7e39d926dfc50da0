from django.db import migrations

from apps.common.migration_ops import storage_parameters_set

# A targeting count reads the per-type indexes only, and skips the table for pages that
# vacuum marked all-visible. With the defaults (a fifth of the table changed), a
# 10M-row table waits for 2M changes between vacuums, and every count after heavy
# identify traffic visits the table for most rows. A hundredth keeps it in step.
PARAMETERS = {
    "autovacuum_vacuum_scale_factor": "0.01",
    "autovacuum_vacuum_insert_scale_factor": "0.01",
    "autovacuum_analyze_scale_factor": "0.02",
}


class Migration(migrations.Migration):
    dependencies = [
        ("user_attributes", "0005_site_key_indexed_by_composites"),
    ]

    operations = [storage_parameters_set("user_attributes", "attributevalue", PARAMETERS)]
