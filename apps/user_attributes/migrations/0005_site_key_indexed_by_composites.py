from django.db import migrations

from apps.common.migration_ops import site_key_index_dropped


class Migration(migrations.Migration):
    dependencies = [
        ('sites', '0001_initial'),
        ('user_attributes', '0004_catalogue_count_takes_merge_deltas'),
    ]

    operations = [site_key_index_dropped("user_attributes", "attributekey", "attributerejection", "attributevalue")]
