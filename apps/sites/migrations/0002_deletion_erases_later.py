import django.db.models.deletion
from django.db import migrations, models

from apps.common.migration_ops import ForeignKeyMadeNullable, lock_timeout_set


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0008_user_email_confirmed_at"),
        ("sites", "0001_initial"),
    ]

    operations = [
        # Every public call reads the sites table: no statement here may queue them long.
        lock_timeout_set(),
        migrations.AlterModelOptions(
            name="site",
            options={"default_manager_name": "objects", "ordering": ["name", "id"]},
        ),
        migrations.AddField(
            model_name="site",
            name="deleted_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        ForeignKeyMadeNullable(
            model_name="site",
            name="account",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="sites",
                to="accounts.account",
            ),
        ),
        migrations.AddConstraint(
            model_name="site",
            constraint=models.CheckConstraint(
                condition=models.Q(("account__isnull", False), ("deleted_at__isnull", False), _connector="OR"),
                name="site_has_account_until_deleted",
            ),
        ),
    ]
