"""The database's own checks: its lower() must fold case as the rules do in Python."""

import secrets

import pytest
from django.core.checks import run_checks
from django.db import connection
from django.db.backends.postgresql.base import DatabaseWrapper

from apps.common.checks import lower_differs


def test_the_test_database_folds_case_as_the_rules_do(db):
    assert [m.id for m in run_checks(databases=["default"]) if m.id == "cohort.W003"] == []


@pytest.fixture
def c_locale_database(on_postgres, django_db_blocker):
    """A database of the C character type, beside the test database."""
    name = f"cohort_ctype_c_{secrets.token_hex(4)}"
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name} TEMPLATE template0 LC_CTYPE 'C' LC_COLLATE 'C'")
    other = DatabaseWrapper({**connection.settings_dict, "NAME": name}, alias="ctype_c")
    try:
        yield other
    finally:
        other.close()
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE {name}")


def test_a_database_of_the_c_locale_is_told_apart(c_locale_database, django_db_blocker):
    with django_db_blocker.unblock():
        assert lower_differs(c_locale_database) is True
