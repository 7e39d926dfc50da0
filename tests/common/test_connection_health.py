"""A kept PostgreSQL connection is checked before a request's first query without a round
trip, and one the server has ended is replaced instead of failing the request."""

import time

import pytest
from django.db import connection, connections

from apps.identity.models import Profile

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("on_postgres")]


@pytest.fixture
def spare():
    """A second connection to the test database, as another worker process would hold."""
    wrapper = connections.create_connection("default")
    wrapper.ensure_connection()
    yield wrapper
    wrapper.close()


def last_statement(pid: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0]


def wait_until_readable(wrapper, seconds: float = 5.0) -> None:
    """Give the server's goodbye time to arrive on the socket."""
    deadline = time.monotonic() + seconds
    while wrapper.is_usable() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_checking_an_idle_connection_sends_nothing_to_the_server(spare):
    with spare.cursor() as cursor:
        cursor.execute("SELECT 'the last statement sent'")
    pid = spare.connection.info.backend_pid

    assert spare.is_usable()
    assert last_statement(pid) == "SELECT 'the last statement sent'"


def test_a_connection_the_server_ended_is_not_usable(spare):
    pid = spare.connection.info.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])

    wait_until_readable(spare)

    assert not spare.is_usable()


def test_the_next_query_after_the_server_ended_the_connection_gets_a_new_one():
    assert connection.settings_dict["CONN_HEALTH_CHECKS"]
    assert Profile.objects.count() == 0
    old_pid = connection.connection.info.backend_pid
    with connections.create_connection("default").cursor() as other:
        other.execute("SELECT pg_terminate_backend(%s)", [old_pid])
    wait_until_readable(connection)
    # What Django does when a request starts: the kept connection is checked again
    # before the request's first query.
    connection.health_check_done = False

    assert Profile.objects.count() == 0
    assert connection.connection.info.backend_pid != old_pid


def test_inside_a_transaction_the_check_asks_the_server(spare):
    spare.set_autocommit(False)
    with spare.cursor() as cursor:
        cursor.execute("SELECT 'in a transaction'")
    pid = spare.connection.info.backend_pid

    assert spare.is_usable()
    assert last_statement(pid) == "SELECT 1"
    spare.rollback()
    spare.set_autocommit(True)
