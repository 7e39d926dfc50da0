"""The builder's count: one statement, and on PostgreSQL a join of attribute rows planned
with merge joins whose planner settings end with the count, split in two halves that
run in parallel."""

from datetime import UTC, datetime

import pytest
from django.db import connection, transaction

from apps.common.sql import text_cursor
from apps.feedback_targeting.rules import count_sql, parse_rule
from apps.feedback_targeting.selectors import targeting_count, targeting_count_sql
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
    spent = {"match": "all", "conditions": SPENT_AND_BOUGHT["conditions"][:1]}

    with django_assert_num_queries(1):
        count = targeting_count(site=site, rule=parse_rule(spent), now=NOW)

    assert count == 5


def test_a_merged_count_reads_its_split_point_first_on_postgresql(
    site, other_site, django_assert_num_queries
):
    _people(site)
    _people(other_site)

    with django_assert_num_queries(2 if connection.vendor == "postgresql" else 1):
        count = targeting_count(site=site, rule=parse_rule(SPENT_AND_BOUGHT), now=NOW)

    assert count == 3


def _plan(sql: str, params: list, settings: str = "") -> str:
    planner, select = sql.rsplit("; ", 1)
    with text_cursor() as cursor:
        cursor.execute(f"{planner}; {settings}EXPLAIN {select}", params)
        while cursor.description is None and cursor.nextset():
            pass
        return "\n".join(row[0] for row in cursor.fetchall())


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
    [(bounds, _), (sql, params)] = statements
    assert bounds.startswith("SELECT MIN(profile_id), MAX(profile_id)")
    assert sql.rsplit("; ", 1)[1].startswith("SELECT CAST(SUM(n) AS bigint)")
    plan = _plan(sql, params)
    assert "Hash" not in plan
    assert _setting("enable_hashjoin") == "on"
    assert _setting("max_parallel_workers_per_gather") == workers_before


@postgresql_only
def test_a_big_merged_count_runs_its_halves_in_parallel_each_reading_only_its_range(site):
    """Three rows make no parallel plan worth its start-up, so the test makes workers
    free to start: the halves then go to workers (a Parallel Append), and every index
    scan of each half is bounded by the split, none reading the other half's rows."""
    _people(site)
    query = targeting_count_sql(site=site, rule=parse_rule(SPENT_AND_BOUGHT), now=NOW)
    sql = query.statement(vendor="postgresql", in_transaction=False)

    plan = _plan(sql, query.params, "SET LOCAL parallel_setup_cost = 0; ")

    assert "Parallel Append" in plan
    assert "Hash" not in plan
    scans = [line for line in plan.splitlines() if "Index Cond" in line]
    assert len(scans) == 4
    assert sum("profile_id < " in line for line in scans) == 2
    assert sum("profile_id >= " in line for line in scans) == 2


@postgresql_only
def test_any_split_point_gives_the_same_count(site):
    """The halves are split at the middle of the first key's profiles; wherever the split
    falls (before, between or after the profiles, on one of them), nothing is counted
    twice or missed, with one condition or several checked in each half."""
    _people(site)
    ids = sorted(Profile.objects.filter(site=site).values_list("pk", flat=True))
    three = {
        "match": "all",
        "conditions": [
            *SPENT_AND_BOUGHT["conditions"],
            {"type": "number", "key": "total_spend", "op": "lte", "value": 10},
        ],
    }
    rules = [(SPENT_AND_BOUGHT, 3), (three, 3)]
    for raw, expected in rules:
        rule = parse_rule(raw)
        for split in [ids[0] - 1, *ids, ids[-1] + 1]:
            query = count_sql(rule, site_id=site.pk, now=NOW, connection=connection, split=split)
            assert query.sliced
            statement = query.statement(vendor="postgresql", in_transaction=True)
            with text_cursor() as cursor:
                cursor.execute(statement, query.params)
                while cursor.description is None and cursor.nextset():
                    pass
                assert cursor.fetchone()[0] == expected, (raw, split)


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
