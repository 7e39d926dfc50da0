from django.db import migrations

from apps.common.migration_ops import storage_parameters_set

# A count of a rule without an attribute condition to start from reads the site's
# profiles from an index, and skips the table for all-visible pages: vacuum profiles
# after a hundredth of them changed, not a fifth (as attribute values).
PARAMETERS = {
    "autovacuum_vacuum_scale_factor": "0.01",
    "autovacuum_vacuum_insert_scale_factor": "0.01",
    "autovacuum_analyze_scale_factor": "0.02",
}


class Migration(migrations.Migration):
    dependencies = [
        ("identity", "0003_site_key_indexed_by_composites"),
    ]

    operations = [storage_parameters_set("identity", "profile", PARAMETERS)]
