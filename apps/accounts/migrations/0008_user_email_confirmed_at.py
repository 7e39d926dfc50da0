from django.db import migrations, models
from django.db.models import F


def confirm_existing_logins(apps, schema_editor):
    # Logins made before addresses were confirmed keep what they could do: their address
    # counts as confirmed from when they joined.
    User = apps.get_model("accounts", "User")
    User.objects.filter(email_confirmed_at=None).update(email_confirmed_at=F("date_joined"))


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0007_audit_site_and_data_events"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="email_confirmed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(confirm_existing_logins, migrations.RunPython.noop),
    ]
