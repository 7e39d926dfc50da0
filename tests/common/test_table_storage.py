"""The tables that targeting counts read through index-only scans are vacuumed after a
hundredth of their rows changed, so that the counts stay index-only under identify
traffic (PostgreSQL's default waits for a fifth)."""

import pytest
from django.apps import apps
from django.db import connection

from apps.common.migration_ops import storage_parameters_set
from apps.identity.models import Profile
from apps.user_attributes.models import AttributeValue

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("on_postgres")]

OFTEN = {
    "autovacuum_vacuum_scale_factor": "0.01",
    "autovacuum_vacuum_insert_scale_factor": "0.01",
    "autovacuum_analyze_scale_factor": "0.02",
}


def storage_parameters(model) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table]
        )
        options = cursor.fetchone()[0] or []
    return dict(option.split("=", 1) for option in options)


@pytest.mark.parametrize("model", [AttributeValue, Profile])
def test_the_migrations_vacuum_the_counted_tables_after_a_hundredth_changed(model):
    assert storage_parameters(model) == OFTEN


def test_the_operation_sets_and_resets_only_the_parameters_it_names():
    operation = storage_parameters_set("identity", "session", {"fillfactor": "90"})
    with connection.schema_editor() as editor:
        operation.code(apps, editor)
    assert storage_parameters(apps.get_model("identity", "Session")) == {"fillfactor": "90"}

    with connection.schema_editor() as editor:
        operation.reverse_code(apps, editor)
    assert storage_parameters(apps.get_model("identity", "Session")) == {}
