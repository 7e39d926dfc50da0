from django.db import migrations, models


def copy_emails(apps, schema_editor):
    """The changes made so far name their user's current email."""
    PlanChange = apps.get_model("billing", "PlanChange")
    User = apps.get_model("accounts", "User")
    emails = dict(
        User.objects.filter(
            pk__in=PlanChange.objects.exclude(changed_by=None).values("changed_by")
        ).values_list("pk", "email")
    )
    for user_id, email in emails.items():
        PlanChange.objects.filter(changed_by_id=user_id).update(changed_by_email=email)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0001_initial"),
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="planchange",
            name="changed_by_email",
            field=models.EmailField(blank=True, max_length=254),
        ),
        migrations.RunPython(copy_emails, migrations.RunPython.noop, elidable=True),
    ]
