from django.db import migrations

from apps.common.migration_ops import site_key_index_dropped


class Migration(migrations.Migration):
    dependencies = [
        ('identity', '0002_privacyaudit'),
        ('sites', '0001_initial'),
    ]

    operations = [site_key_index_dropped("identity", "processedmessage", "profile", "session", "visitor")]
