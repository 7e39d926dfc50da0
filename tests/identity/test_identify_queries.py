"""The statements one identify call sends: how many, and that each names its site.

A fixed count keeps an N+1 from creeping into the hot path; the site in every statement
on a tenant table is what lets the tables be distributed by site (docs/scaling.md).
"""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.identity.models import Profile, Visitor
from apps.user_attributes.models import AttributeKey, AttributeValue
from tests.round_trips import round_trips

DEVICE = "device0000000000000000000000000a"
OTHER_DEVICE = "device0000000000000000000000000b"
TENANT_TABLES = re.compile(
    r'(?:FROM|INTO|UPDATE|JOIN)\s+"(identity_(?!privacyaudit)\w+|user_attributes_\w+|'
    r'feedback_targeting_\w+)"'
)


def identify(api_client, site, visitor_id, user_id, attributes, message_id=None):
    body = {"visitor_id": visitor_id, "user_id": user_id, "attributes": attributes}
    if message_id:
        body["message_id"] = message_id
    response = api_client.post(f"/api/v1/sites/{site.key}/identify", body, format="json")
    assert response.status_code == 200, response.content
    return response


def statements(captured) -> list[str]:
    """What the call sent, without the savepoints of the test's own transaction."""
    return [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]


def unscoped(queries) -> list[str]:
    """Statements on a tenant table that do not name site_id."""
    return [
        q["sql"] for q in queries if TENANT_TABLES.search(q["sql"]) and "site_id" not in q["sql"]
    ]


def test_a_returning_user_costs_a_fixed_number_of_statements(api_client, site):
    attributes = {"plan": "pro", "total_spend": 10, "newsletter": True}
    identify(api_client, site, DEVICE, "ABC", attributes)

    with CaptureQueriesContext(connection) as captured:
        identify(api_client, site, DEVICE, "ABC", {**attributes, "total_spend": 12}, "m" * 20)

    # visitor; profile; catalogue with the profile's keys; values; message and answer (the
    # site is kept in memory after the first call).
    assert len(statements(captured)) == 5, statements(captured)
    assert unscoped(captured.captured_queries) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("on_postgres")
def test_a_returning_user_costs_five_round_trips_to_postgresql(api_client, site):
    attributes = {"plan": "pro", "total_spend": 10, "newsletter": True}
    identify(api_client, site, DEVICE, "ABC", attributes)

    # A new request checks its kept connection before the first statement (Django resets
    # this flag when a request starts; the test client leaves that signal out).
    connection.health_check_done = False
    with round_trips() as counted:
        identify(api_client, site, DEVICE, "ABC", {**attributes, "total_spend": 12}, "m" * 20)

    # BEGIN; visitor and profile together; catalogue; values with the message id; COMMIT.
    # The kept connection is checked without a statement.
    assert counted.count == 5, counted.statements
    assert "SELECT 1" not in counted.statements
    assert AttributeValue.objects.get(site=site, key="total_spend").number_value == 12


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("on_postgres")
def test_an_anonymous_device_joining_a_user_costs_a_fixed_number_of_round_trips(api_client, site):
    identify(api_client, site, OTHER_DEVICE, "ABC", {"plan": "pro", "seats": 3})
    identify(api_client, site, DEVICE, None, {"ab_test": "A", "seats": 5})
    anonymous = Visitor.objects.get(site=site, visitor_id=DEVICE).profile_id

    connection.health_check_done = False
    with round_trips() as counted:
        identify(api_client, site, DEVICE, "ABC", {"newsletter": True}, "n" * 20)

    # BEGIN; visitor and profile together; is the device's profile anonymous; which keys
    # both profiles hold; the merge's writes with the catalogue read; the catalogue's keys
    # (a key new to the site), then again under the site's lock for new keys (the site has
    # room); values, catalogue and message id together; COMMIT.
    assert counted.count == 9, counted.statements
    assert not Profile.objects.filter(pk=anonymous).exists()
    user = Profile.objects.get(site=site, user_id="ABC")
    assert {a.key: a.value for a in user.attributes.all()} == {
        "plan": "pro",
        "seats": 5,
        "ab_test": "A",
        "newsletter": True,
    }
    assert AttributeKey.objects.get(site=site, key="seats").profile_count == 1


def test_an_anonymous_profile_joining_a_user_names_the_site_in_every_statement(
    api_client, site, other_site
):
    identify(api_client, other_site, DEVICE, None, {"ab_test": "B"})
    identify(api_client, site, DEVICE, None, {"ab_test": "A"})
    anonymous = Visitor.objects.get(site=site, visitor_id=DEVICE).profile_id

    with CaptureQueriesContext(connection) as captured:
        identify(api_client, site, DEVICE, "ABC", {"plan": "pro"})

    assert unscoped(captured.captured_queries) == []
    # Its values, sessions, responses and devices move in one statement each, and the
    # emptied anonymous profile goes in one more (no cascade looking for rows again); a key
    # new to a site with room reads the catalogue's keys, then again after the site's lock
    # for new keys (PostgreSQL's; on SQLite writers take turns anyway).
    locks = 1 if connection.vendor == "postgresql" else 0
    assert len(statements(captured)) == 15 + locks, "\n".join(statements(captured))
    user = Profile.objects.get(site=site, user_id="ABC")
    assert not Profile.objects.filter(pk=anonymous).exists()
    assert {a.key: a.value for a in user.attributes.all()} == {"ab_test": "A", "plan": "pro"}
    assert Visitor.objects.get(site=site, visitor_id=DEVICE).profile_id == user.pk
    # The other site's visitor with the same device id keeps its anonymous profile.
    other = Visitor.objects.get(site=other_site, visitor_id=DEVICE)
    assert AttributeValue.objects.get(site=other_site, profile_id=other.profile_id).key == (
        "ab_test"
    )


@pytest.mark.usefixtures("site")
def test_an_identified_device_moving_to_another_user_names_the_site(api_client, site):
    identify(api_client, site, OTHER_DEVICE, "A", {"plan": "free"})

    with CaptureQueriesContext(connection) as captured:
        identify(api_client, site, OTHER_DEVICE, "B", {"plan": "pro"})

    assert unscoped(captured.captured_queries) == []
    assert Profile.objects.filter(site=site, user_id__in=["A", "B"]).count() == 2


def test_a_merge_writes_the_catalogue_once_in_key_order(api_client, site):
    """The keys a merge folds together (c) and the call's own keys (b, d) share one
    catalogue statement in key order: two statements would lock c before b, and a call on
    another device locking b then c would wait on this one while it waits back."""
    identify(api_client, site, OTHER_DEVICE, "ABC", {"c": 1})
    identify(api_client, site, DEVICE, None, {"a": 2, "c": 2})

    with CaptureQueriesContext(connection) as captured:
        identify(api_client, site, DEVICE, "ABC", {"b": 3, "d": 3})

    catalogue = AttributeKey._meta.db_table
    writes = [
        sql
        for sql in statements(captured)
        if re.search(rf'(INSERT INTO|UPDATE)\s+"{catalogue}"', sql)
    ]
    assert len(writes) == 1, writes
    counts = dict(AttributeKey.objects.filter(site=site).values_list("key", "profile_count"))
    assert counts == {"a": 1, "b": 1, "c": 1, "d": 1}
    seen = AttributeKey.objects.get(site=site, key="c")
    assert (seen.value_type, seen.types_seen) == ("number", ["number"])
