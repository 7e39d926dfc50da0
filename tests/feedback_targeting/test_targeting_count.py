"""The builder's count: one statement, and on PostgreSQL a join of attribute rows planned
with merge joins whose planner settings end with the count."""

from datetime import UTC, datetime

import pytest
from django.db import connection, transaction

from apps.common.sql import text_cursor
from apps.feedback_targeting.rules import parse_rule
from apps.feedback_targeting.selectors import targeting_count
from apps.identity.models import Profile
from apps.user_attributes.models import AttributeValue

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="planner settings exist on PostgreSQL only"
)

SPENT_AND_BOUGHT = {
    "match": "all",
    "conditions": [
        {"type": "number", "key": "total_spend", "op": "gt", "value": 0},
        {"type": "date", "key": "first_purchase", "op": "more_than_days_ago", "value": 10},
    ],
}


def _person(site, user_id, **attributes):
    profile = Profile.objects.create(site=site, user_id=user_id, created_at=NOW, updated_at=NOW)
    for key, (value_type, value) in attributes.items():
        AttributeValue.objects.create(
            site=site,
            profile=profile,
            key=key,
            value_type=value_type,
            updated_at=NOW,
            **{f"{value_type}_value": value},
        )
    return profile


def _people(site):
    """Three profiles match SPENT_AND_BOUGHT on `site`; the others miss one condition."""
    long_ago = datetime(2026, 1, 1, tzinfo=UTC)
    for index in range(3):
        _person(site, f"u{index}", total_spend=("number", 10.0), first_purchase=("date", long_ago))
    _person(site, "no-spend", total_spend=("number", 0.0), first_purchase=("date", long_ago))
    _person(site, "recent", total_spend=("number", 5.0), first_purchase=("date", NOW))
    _person(site, "spend-only", total_spend=("number", 5.0))
    _person(site, "text-spend", total_spend=("string", "5"), first_purchase=("date", long_ago))


def _setting(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


def test_a_count_is_one_statement(site, other_site, django_assert_num_queries):
    _people(site)
    _people(other_site)

    with django_assert_num_queries(1):
        count = targeting_count(site=site, rule=parse_rule(SPENT_AND_BOUGHT), now=NOW)

    assert count == 3


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_joined_count_is_planned_without_hash_joins_and_the_settings_end_with_it(
    site, other_site
):
    _people(site)
    _people(other_site)
    workers_before = _setting("max_parallel_workers_per_gather")
    statements = []

    def record(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        count = targeting_count(site=site, rule=parse_rule(SPENT_AND_BOUGHT), now=NOW)

    assert count == 3
    assert not connection.in_atomic_block
    [(sql, params)] = statements
    settings, select = sql.rsplit("; ", 1)
    assert select.startswith("SELECT COUNT(*)")
    with text_cursor() as cursor:
        cursor.execute(f"{settings}; EXPLAIN {select}", params)
        while cursor.description is None and cursor.nextset():
            pass
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Hash" not in plan
    assert "Gather" not in plan
    assert _setting("enable_hashjoin") == "on"
    assert _setting("max_parallel_workers_per_gather") == workers_before


@postgresql_only
def test_inside_a_transaction_the_settings_end_with_the_count(site):
    _people(site)
    workers_before = _setting("max_parallel_workers_per_gather")

    with transaction.atomic():
        count = targeting_count(site=site, rule=parse_rule(SPENT_AND_BOUGHT), now=NOW)
        hash_joins = _setting("enable_hashjoin")
        workers = _setting("max_parallel_workers_per_gather")
        # The caller's transaction goes on: its writes still work and are still counted.
        _person(
            site,
            "late",
            total_spend=("number", 1.0),
            first_purchase=("date", datetime(2026, 2, 1, tzinfo=UTC)),
        )
        again = targeting_count(site=site, rule=parse_rule(SPENT_AND_BOUGHT), now=NOW)

    assert (count, again) == (3, 4)
    assert (hash_joins, workers) == ("on", workers_before)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_with_autocommit_off_the_settings_end_with_the_count(site):
    """A transaction opened by turning autocommit off (no atomic block) must not keep the
    count's planner settings either."""
    _people(site)
    transaction.set_autocommit(False)
    try:
        count = targeting_count(site=site, rule=parse_rule(SPENT_AND_BOUGHT), now=NOW)
        hash_joins = _setting("enable_hashjoin")
    finally:
        transaction.rollback()
        transaction.set_autocommit(True)

    assert count == 3
    assert hash_joins == "on"


def test_only_joins_of_typed_conditions_are_planned_as_merges(site):
    """A single condition, a visitor condition or a key of any type (no per-key index
    ordered by profile covers it) keep PostgreSQL's default plan."""
    _people(site)
    spent = SPENT_AND_BOUGHT["conditions"][0]
    rules = [
        [spent],
        [spent, {"type": "visitor", "op": "identified"}],
        [spent, {"type": "date", "key": "first_purchase", "op": "is_set"}],
        [spent, {"type": "date", "key": "first_purchase", "op": "is_not_set"}],
    ]
    statements = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        counts = [
            targeting_count(site=site, rule=parse_rule({"match": "all", "conditions": c}), now=NOW)
            for c in rules
        ]

    assert counts == [5, 5, 4, 1]
    assert all(sql.startswith("SELECT COUNT(*)") for sql in statements)
