"""Visitor Lookup's hot path: the statements one API lookup sends, and the hand-written
output against the documented serializers."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.renderers import JSONRenderer

from apps.accounts.services import api_token_create
from apps.feedback_targeting.models import Widget
from apps.identity.apis import ProfileOutput, person_output
from apps.identity.models import PrivacyAudit, Profile, Visitor
from apps.identity.selectors import _matching_ids_sql, person_lookup
from apps.identity.services import session_record, visitor_identify
from tests.feedback_targeting.factories import QuestionFactory, ResponseFactory, WidgetFactory
from tests.round_trips import round_trips

MOBILE = "mobile456mobile456mobile456bbbbb"
TABLET = "tablet123tablet123tablet123aaaaa"
TENANT_TABLES = re.compile(
    r'(?:FROM|INTO|UPDATE|JOIN)\s+"(identity_(?!privacyaudit)\w+|user_attributes_\w+|'
    r'feedback_targeting_\w+)"'
)


@pytest.fixture
def token(account, owner):
    return api_token_create(account=account, user=owner, name="privacy")[1]


@pytest.fixture
def anna(site):
    """A person with a value of every type, two devices, two sessions and three
    responses: a poll with answers, a feedback with an emotion, one with no emotion."""
    session_record(
        site=site, visitor_id=MOBILE, session_key="session-B-000000001", url="https://s/b"
    )
    session_record(
        site=site,
        visitor_id=TABLET,
        session_key="session-A-000000001",
        url="https://s/a",
        referrer="https://search.example/",
    )
    visitor_identify(
        site=site,
        visitor_id=MOBILE,
        user_id="ANNA",
        attributes={
            "email": "anna@example.com",
            "total_spend": 12.5,
            "first_purchase": "2019-06-20T10:11:12.345678Z",
            "newsletter": True,
            "plan": "",
        },
    )
    visitor_identify(site=site, visitor_id=TABLET, user_id="ANNA", attributes={})
    profile = Profile.objects.get(site=site, user_id="ANNA")
    visitor = Visitor.objects.get(site=site, visitor_id=MOBILE)
    poll = WidgetFactory(site=site, name="Where from")
    question = QuestionFactory(widget=poll, site=site)
    ResponseFactory(
        widget=poll,
        visitor=visitor,
        profile=profile,
        answers={str(question.pk): ["Search", "A friend"]},
        email="anna@example.com",
        consent_to_connect=True,
        page_url="https://s/checkout",
    )
    feedback = WidgetFactory(site=site, kind=Widget.Kind.FEEDBACK, name="Tab")
    ResponseFactory(widget=feedback, visitor=visitor, profile=profile, emotion=4, comment="Ok")
    ResponseFactory(widget=feedback, visitor=visitor, profile=profile)
    return profile


def test_the_hand_written_output_is_the_documented_shape(site, anna):
    visitor_identify(site=site, visitor_id="x" * 20, user_id="BOB", attributes={"a": 1})

    people = person_lookup(site=site, user_id="BOB", email="anna@example.com").people

    assert [p.user_id for p in people] == ["ANNA", "BOB"]
    assert [len(p.response_list) for p in people] == [3, 0]
    render = JSONRenderer().render
    assert render([person_output(p) for p in people]) == render(
        ProfileOutput(people, many=True).data
    )


def test_the_person_is_read_in_order_with_every_row(site, anna):
    [person] = person_lookup(site=site, user_id="ANNA", email=None).people

    assert [(a.key, a.value_type) for a in person.attribute_list] == [
        ("email", "string"),
        ("first_purchase", "date"),
        ("newsletter", "boolean"),
        ("plan", "string"),
        ("total_spend", "number"),
    ]
    assert [a.value for a in person.attribute_list][2:] == [True, "", 12.5]
    assert person.attribute_list[1].value.isoformat() == "2019-06-20T10:11:12.345678+00:00"
    assert [v.visitor_id for v in person.visitor_list] == [MOBILE, TABLET]
    assert [(s.session_key, s.visitor.visitor_id) for s in person.session_list] == [
        ("session-A-000000001", TABLET),
        ("session-B-000000001", MOBILE),
    ]
    assert [r.widget.name for r in person.response_list] == ["Tab", "Tab", "Where from"]
    assert [r.emotion for r in person.response_list] == [None, 4, None]


def test_a_lookup_sends_a_fixed_number_of_statements_each_naming_its_site(
    api_client, site, other_site, token, anna
):
    visitor_identify(site=other_site, visitor_id=MOBILE, user_id="ANNA", attributes={"a": 1})
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    with CaptureQueriesContext(connection) as captured:
        response = api_client.get(f"/api/v1/sites/{site.key}/lookup?user_id=ANNA")

    assert response.status_code == 200
    sent = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    # token with user, account, membership and site; token use; profiles with their
    # attributes; devices; sessions; responses; their totals; the poll's questions; the
    # audit record.
    assert len(sent) == 9, sent
    # The site is named in what each statement reads from, not only among its columns.
    assert [
        q for q in sent if TENANT_TABLES.search(q) and "site_id" not in q.split(" FROM ", 1)[-1]
    ] == []
    assert [p["user_id"] for p in response.json()["profiles"]] == ["ANNA"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("on_postgres")
def test_a_lookup_takes_five_round_trips_to_postgresql(api_client, site, token, anna):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    api_client.get(f"/api/v1/sites/{site.key}/lookup?user_id=ANNA")  # notes the token's use

    # A new request checks its kept connection before the first statement (Django resets
    # this flag when a request starts; the test client leaves that signal out).
    connection.health_check_done = False
    with round_trips() as counted:
        response = api_client.get(f"/api/v1/sites/{site.key}/lookup?email=anna@example.com")

    assert [p["user_id"] for p in response.json()["profiles"]] == ["ANNA"]
    # The token with everything it grants; the profiles with their attributes; their
    # devices, sessions and responses together; the poll's questions; the audit record.
    # The kept connection is checked without a statement.
    assert counted.count == 5, counted.statements
    assert "SELECT 1" not in counted.statements


def test_a_lookup_that_finds_nobody_stops_after_the_match_and_is_audited(
    api_client, site, token, owner, anna
):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    api_client.get(f"/api/v1/sites/{site.key}/lookup?user_id=ANNA")  # notes the token's use

    with CaptureQueriesContext(connection) as captured:
        response = api_client.get(f"/api/v1/sites/{site.key}/lookup?email=nobody@example.com")

    assert response.json() == {
        "site_key": site.key,
        "profiles": [],
        "email_responses": [],
        "email_responses_total": 0,
    }
    sent = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    # token with membership and site; profiles and the answers given with the email on
    # others' profiles (one round trip on PostgreSQL); the audit record.
    assert len(sent) == 4, sent
    audit = PrivacyAudit.objects.order_by("-id").first()
    assert (audit.profiles_found, audit.searched_email, audit.requested_by) == (0, True, owner)


@pytest.mark.usefixtures("on_postgres")
def test_a_lookup_by_email_reads_profiles_by_index_on_a_large_site(site, anna):
    """The match of a user id that is the address, in any case, goes through the index on
    the lowered user id, whose statistics the planner reads: without them it expected
    thousands of profiles per address and read every profile of the site (107 ms a lookup
    over a million)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Profile._meta.db_table} (site_id, user_id, created_at, updated_at) "
            "SELECT %s, CASE WHEN g %% 3 = 0 THEN NULL ELSE 'Person' || g || '@Example.com' END, "
            "now(), now() FROM generate_series(1, 200000) AS g",
            [site.pk],
        )
        cursor.execute(f"ANALYZE {Profile._meta.db_table}")
        sql, params = _matching_ids_sql(site=site, user_id=None, email="person77@example.com")
        cursor.execute(
            f"EXPLAIN SELECT id FROM {Profile._meta.db_table} p "
            f"WHERE p.site_id = %s AND p.id IN ({sql})",
            [site.pk, *params],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "Seq Scan on identity_profile" not in plan, plan
    assert "profile_site_user_lowered" in plan, plan
    found = person_lookup(site=site, user_id=None, email="PERSON77@example.com").people
    assert [p.user_id for p in found] == ["Person77@Example.com"]
