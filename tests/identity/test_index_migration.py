"""Migration identity 0007: the index on the lowered user id replaced CONCURRENTLY, safe to
run again after a failure part way (each statement outside a transaction stays done)."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("identity", "0006_profiles_found_by_lowered_user_id")]
AFTER = [("identity", "0007_profiles_lowered_user_id_index_whole")]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("on_postgres")]


def indexes() -> dict[str, bool]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, i.indisvalid FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname LIKE 'profile_site_user_%%'"
        )
        return dict(cursor.fetchall())


@pytest.mark.parametrize("left_behind", ["built", "invalid"])
def test_the_migration_runs_again_over_an_index_a_failed_run_left(left_behind):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    with connection.cursor() as cursor:
        # What a run that stopped after the build (or during it) leaves.
        cursor.execute(
            "CREATE INDEX profile_site_user_lowered ON identity_profile (site_id, lower(user_id))"
        )
        if left_behind == "invalid":
            cursor.execute(
                "UPDATE pg_index SET indisvalid = false "
                "WHERE indexrelid = 'profile_site_user_lowered'::regclass"
            )

    MigrationExecutor(connection).migrate(AFTER)

    assert indexes() == {"profile_site_user_lowered": True}


def test_the_migration_goes_back_and_forth():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    assert indexes() == {"profile_site_user_lower": True}

    MigrationExecutor(connection).migrate(AFTER)

    assert indexes() == {"profile_site_user_lowered": True}
