"""Statements sent together: fewer round trips on PostgreSQL, the same rows anywhere."""

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from apps.common.sql import execute, fetch_all_together, fetch_one, statements_pipelined
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


@pytest.fixture
def scratch_table(django_db_blocker):
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("CREATE TABLE scratch_pipelined (id integer PRIMARY KEY)")
    yield "scratch_pipelined"
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("DROP TABLE scratch_pipelined")


@pytest.mark.django_db(transaction=True)
def test_pipelined_writes_run_in_order_and_each_sees_the_ones_before(scratch_table):
    with transaction.atomic(), statements_pipelined():
        execute(f"INSERT INTO {scratch_table} (id) VALUES (1), (2)", [])
        execute(f"DELETE FROM {scratch_table} WHERE id = 1", [])
        row = fetch_one(f"SELECT count(*), max(id) FROM {scratch_table}", [])

    assert row == (1, 2)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("on_postgres")
def test_writes_nobody_reads_travel_with_the_next_read(scratch_table):
    with transaction.atomic():
        fetch_one("SELECT 1", [])  # BEGIN is sent before counting
        with round_trips() as counted, statements_pipelined():
            execute(f"INSERT INTO {scratch_table} (id) VALUES (1)", [])
            execute(f"INSERT INTO {scratch_table} (id) VALUES (2)", [])
            row = fetch_one(f"SELECT count(*) FROM {scratch_table}", [])
            execute(f"INSERT INTO {scratch_table} (id) VALUES (3)", [])

    assert row == (2,)
    # The two writes with the read; the last write with the block's end.
    assert counted.count == 2, counted.trace
    assert fetch_one(f"SELECT count(*) FROM {scratch_table}", []) == (3,)


@pytest.mark.django_db(transaction=True)
def test_a_failing_pipelined_write_raises_a_django_error_and_keeps_nothing(scratch_table):
    execute(f"INSERT INTO {scratch_table} (id) VALUES (1)", [])

    def writes_then_read():
        with transaction.atomic(), statements_pipelined():
            execute(f"INSERT INTO {scratch_table} (id) VALUES (2)", [])
            execute(f"INSERT INTO {scratch_table} (id) VALUES (1)", [])
            execute(f"INSERT INTO {scratch_table} (id) VALUES (3)", [])
            fetch_one(f"SELECT count(*) FROM {scratch_table}", [])

    with pytest.raises(IntegrityError):
        writes_then_read()

    assert fetch_one(f"SELECT count(*) FROM {scratch_table}", []) == (1,)
