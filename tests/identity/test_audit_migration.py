"""Migration identity 0005: the digests that earlier privacy audit records kept, a plain
hash beside its salt, are cleared."""

import hashlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("identity", "0004_profiles_vacuumed_often")]
AFTER = [("identity", "0005_audit_terms_keyed")]


@pytest.mark.django_db(transaction=True)
def test_digests_kept_before_the_key_are_cleared(site, owner):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps.get_model("identity", "PrivacyAudit")
    salt = "a" * 32
    audit = old.objects.create(
        account_id=site.account_id,
        site_id=site.pk,
        site_name=site.name,
        action="delete",
        channel="api",
        requested_by_id=owner.pk,
        requested_by_email=owner.email,
        searched_user_id=True,
        terms_salt=salt,
        terms_hash=hashlib.sha256(f"{salt}\x1f931493\x1f".encode()).hexdigest(),
        created_at=timezone.now(),
    )

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)

    new = executor.loader.project_state(AFTER).apps.get_model("identity", "PrivacyAudit")
    kept = new.objects.get(pk=audit.pk)
    executor.migrate(executor.loader.graph.leaf_nodes())  # as the rest of the suite expects
    assert (kept.terms_hash, kept.terms_salt, kept.site_name) == ("", salt, site.name)
