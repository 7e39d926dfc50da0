from django.db import migrations

from apps.common.migration_ops import site_key_index_dropped


class Migration(migrations.Migration):
    dependencies = [
        ('feedback_targeting', '0002_alter_question_kind'),
        ('sites', '0001_initial'),
    ]

    operations = [site_key_index_dropped("feedback_targeting", "question", "response", "widget")]
