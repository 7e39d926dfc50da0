"""Independent reads sent together: one round trip on PostgreSQL, the same rows anywhere."""

import pytest
from django.db import DatabaseError, connection

from apps.common.sql import fetch_all_together
from tests.round_trips import round_trips

pytestmark = pytest.mark.django_db

READS = [
    ("SELECT 1 UNION ALL SELECT 2", []),
    ("SELECT %s", ["two"]),
    ("SELECT 3 WHERE 1 = 0", []),
]


def test_each_read_gets_its_own_rows_in_order():
    assert fetch_all_together(READS) == [[(1,), (2,)], [("two",)], []]


@pytest.mark.usefixtures("on_postgres")
def test_the_reads_travel_in_one_round_trip():
    fetch_all_together(READS)  # the connection is open before counting

    with round_trips() as counted:
        rows = fetch_all_together(READS)

    assert rows[1] == [("two",)]
    assert counted.count == 1, counted.trace
    assert len(counted.statements) == 3


@pytest.mark.django_db(transaction=True)
def test_a_failing_read_raises_a_django_error_and_the_connection_goes_on():
    with pytest.raises(DatabaseError):
        fetch_all_together([("SELECT 1", []), ("SELECT * FROM no_such_table", [])])

    with connection.cursor() as cursor:
        cursor.execute("SELECT 5")
        assert cursor.fetchone() == (5,)
