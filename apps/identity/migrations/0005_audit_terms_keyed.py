"""Clear the digests of search terms that privacy audit records kept before they were
keyed with the server's secret: each was a plain hash with its salt beside it, which anyone
holding the record could test guesses against (a short user id in seconds). The records
keep everything else; only which terms they answered can no longer be shown for them."""

from django.db import migrations


def clear_unkeyed_digests(apps, schema_editor):
    PrivacyAudit = apps.get_model("identity", "PrivacyAudit")
    PrivacyAudit.objects.update(terms_hash="")


class Migration(migrations.Migration):
    dependencies = [("identity", "0004_profiles_vacuumed_often")]

    operations = [migrations.RunPython(clear_unkeyed_digests, migrations.RunPython.noop)]
