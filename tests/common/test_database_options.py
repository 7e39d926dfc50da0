"""On PostgreSQL, parameters travel apart from the statement text and repeated statements
are prepared on the server, so that PostgreSQL does not parse and plan them again."""

import pytest
from django.db import connection

from apps.common.sql import text_cursor
from apps.identity.models import Profile
from apps.identity.services import visitor_identify

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("on_postgres")]


def prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_a_statement_run_a_few_times_is_prepared_on_the_server(site):
    for n in range(6):
        visitor_identify(
            site=site, visitor_id=f"device{n}".ljust(32, "x"), user_id=f"u{n}", attributes={}
        )

    statements = prepared()
    assert any('INSERT INTO "identity_visitor"' in text for text in statements), statements
    assert Profile.objects.filter(site=site).count() == 6


def test_several_statements_in_one_text_go_through_the_text_cursor(site):
    with text_cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = '5s'; SELECT %s::int + 1", [41])
        while cursor.description is None and cursor.nextset():
            pass
        assert cursor.fetchone()[0] == 42
