"""Targeting rules: validation, evaluation for one visitor, and compilation to SQL.

A rule is plain JSON, stored on the widget:

    {"match": "all" | "any",
     "conditions": [
        {"key": "total_spend", "type": "number", "op": "gt", "value": 0},
        {"key": "first_purchase", "type": "date", "op": "more_than_days_ago", "value": 10},
        {"type": "visitor", "op": "identified"}
     ]}

Semantics, shared by `evaluate` (one visitor, in Python), `compile_rule` (a filter on
Profile, through the ORM) and `count_sql` (the builder's count, written as SQL text) and
checked equal by a property-based test:

- A condition on an attribute matches only when the profile has a value for the key *of
  the condition's type*; a missing key or a value of another type never matches, negative
  operators (≠, not equals, not contains) included.
- `is_set` / `is_not_set` look at the key whatever its type.
- Numbers compare as numbers, dates as instants (UTC). `before` / `after` / `on` take a
  calendar day (YYYY-MM-DD, UTC); "more than N days ago" is before now - N days; "less than
  N days ago" is between now - N days and now.
- `equals`, `not_equals`, `in` compare strings exactly; `contains`, `not_contains`,
  `starts_with`, `ends_with` ignore case.
- An empty rule matches everyone.
"""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Lower, Replace

from apps.common.sql import simple_lower, table
from apps.identity.models import Profile
from apps.user_attributes.models import AttributeValue, ValueType

MAX_CONDITIONS = 20
MAX_IN_VALUES = 50
MAX_DAYS = 36_500
NUL_REFUSED = "Texts cannot contain the NUL character (\\0)."

NUMBER_OPS = {
    "eq": "=",
    "ne": "≠",
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
    "between": "between",
}
STRING_OPS = {
    "equals": "equals",
    "not_equals": "does not equal",
    "contains": "contains (any case)",
    "not_contains": "does not contain (any case)",
    "starts_with": "starts with (any case)",
    "ends_with": "ends with (any case)",
    "in": "is one of",
}
DATE_OPS = {
    "before": "before",
    "after": "after",
    "on": "on",
    "more_than_days_ago": "more than N days ago",
    "less_than_days_ago": "less than N days ago",
}
BOOLEAN_OPS = {"is_true": "is true", "is_false": "is false"}
ANY_OPS = {"is_set": "is set", "is_not_set": "is not set"}
VISITOR_OPS = {"identified": "visitor is identified", "anonymous": "visitor is anonymous"}

OPERATORS: dict[str, dict[str, str]] = {
    ValueType.NUMBER: NUMBER_OPS | ANY_OPS,
    ValueType.STRING: STRING_OPS | ANY_OPS,
    ValueType.DATE: DATE_OPS | ANY_OPS,
    ValueType.BOOLEAN: BOOLEAN_OPS | ANY_OPS,
    "visitor": VISITOR_OPS,
}
NO_VALUE_OPS = set(BOOLEAN_OPS) | set(ANY_OPS) | set(VISITOR_OPS)


class RuleError(ValueError):
    """A rule that cannot be saved; `errors` maps a condition index (or None) to a message."""

    def __init__(self, errors: dict[int | None, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True)
class Condition:
    type: str
    op: str
    key: str = ""
    value: Any = None

    @property
    def uses_attributes(self) -> bool:
        return self.type != "visitor"


@dataclass(frozen=True)
class Rule:
    match: str = "all"
    conditions: tuple[Condition, ...] = ()

    @property
    def uses_attributes(self) -> bool:
        return any(c.uses_attributes for c in self.conditions)

    def as_json(self) -> dict:
        return {
            "match": self.match,
            "conditions": [
                {"type": c.type, "op": c.op}
                | ({"key": c.key} if c.uses_attributes else {})
                | ({"value": _json_value(c)} if c.op not in NO_VALUE_OPS else {})
                for c in self.conditions
            ],
        }


def _json_value(condition: Condition):
    if isinstance(condition.value, date):
        return condition.value.isoformat()
    if isinstance(condition.value, tuple):
        return list(condition.value)
    return condition.value


# --- validation ---------------------------------------------------------------------------


def _number(raw) -> float:
    if isinstance(raw, bool):
        raise ValueError
    if isinstance(raw, str):
        raw = raw.strip()
    value = float(raw)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError
    return value


# Greek has two small sigmas: the final one (U+03C2) ends a word, the other (U+03C3) goes
# elsewhere, and both are U+03A3 in capitals. Lower case alone turns a word in capitals
# ending in sigma into one ending in U+03C3, never the U+03C2 a person types: the "any
# case" operators read both as one letter, in Python and in SQL.
FINAL_SIGMA, SIGMA = "\u03c2", "\u03c3"


def fold_case(text: str) -> str:
    """`text` as the "any case" string operators compare it: lower case as the database
    has it (`simple_lower`), the final sigma as the other."""
    return simple_lower(text).replace(FINAL_SIGMA, SIGMA)


def list_values(text: str) -> list[str]:
    """The values an "is one of" text names: separated by commas, spaces around each
    dropped, empty ones skipped. A value written in double quotes is taken as it is:
    with a comma (`"gold, premium", silver`), spaces around it (`"gold "`), or empty
    (`""`); a quote in it is doubled. Text after a closing quote joins the value."""
    values: list[str] = []
    for quoted, field in _list_fields(text):
        if quoted:
            values.append(field)
        elif field.strip():
            values.append(field.strip())
    return values


def _list_fields(text: str) -> Iterator[tuple[bool, str]]:
    """Each comma-separated field of `text`: whether it was quoted, and its text."""
    i, end = 0, len(text)
    while i <= end:
        start = i
        while i < end and text[i] in " \t":
            i += 1
        if i < end and text[i] == '"':
            parts, i = [], i + 1
            while i < end:
                quote = text.find('"', i)
                if quote == -1:  # no closing quote: the rest of the text
                    parts.append(text[i:])
                    i = end
                    break
                parts.append(text[i:quote])
                if text[quote + 1 : quote + 2] == '"':  # a doubled quote
                    parts.append('"')
                    i = quote + 2
                    continue
                i = quote + 1
                break
            comma = text.find(",", i)
            stop = end if comma == -1 else comma
            yield True, "".join(parts) + text[i:stop].strip()
        else:
            comma = text.find(",", start)
            stop = end if comma == -1 else comma
            yield False, text[start:stop]
        i = stop + 1


def list_text(values: Iterable[object]) -> str:
    """The "is one of" text of `values`, as `list_values` reads it back."""
    return ", ".join(_list_item(str(value)) for value in values)


def _list_item(text: str) -> str:
    if "," in text or text[:1] == '"' or text != text.strip() or not text:
        return '"' + text.replace('"', '""') + '"'
    return text


def _clean_value(type_: str, op: str, raw) -> Any:
    """The typed value of a condition, or ValueError with a readable message."""
    if op in NO_VALUE_OPS:
        return None
    if type_ == ValueType.NUMBER:
        if op == "between":
            if not isinstance(raw, list | tuple) or len(raw) != 2:
                raise ValueError("“between” needs two numbers.")
            try:
                low, high = sorted((_number(raw[0]), _number(raw[1])))
            except (TypeError, ValueError):
                raise ValueError("“between” needs two numbers.") from None
            return (low, high)
        try:
            return _number(raw)
        except (TypeError, ValueError):
            raise ValueError(f"“{raw}” is not a number.") from None
    if type_ == ValueType.STRING:
        if op == "in":
            values = raw if isinstance(raw, list | tuple) else list_values(str(raw or ""))
            values = tuple(dict.fromkeys(str(v) for v in values))
            if any("\x00" in value for value in values):
                raise ValueError(NUL_REFUSED)
            if not values:
                raise ValueError("“is one of” needs at least one value.")
            if len(values) > MAX_IN_VALUES:
                raise ValueError(f"“is one of” takes at most {MAX_IN_VALUES} values.")
            return values
        if not isinstance(raw, str) or raw == "":
            raise ValueError("Give a text to compare with.")
        if "\x00" in raw:
            raise ValueError(NUL_REFUSED)
        return raw
    if type_ == ValueType.DATE:
        if op in ("more_than_days_ago", "less_than_days_ago"):
            try:
                days = int(str(raw).strip())
            except (TypeError, ValueError):
                raise ValueError("The number of days must be a whole number.") from None
            if days < 0 or days > MAX_DAYS:
                raise ValueError(f"The number of days must be between 0 and {MAX_DAYS}.")
            return days
        try:
            return date.fromisoformat(str(raw).strip())
        except ValueError:
            raise ValueError("Give a date as YYYY-MM-DD.") from None
    raise ValueError("Unknown type.")


def parse_rule(data: Mapping | None) -> Rule:
    """Validate rule JSON into a Rule; RuleError says what is wrong with which condition."""
    data = data or {}
    if not isinstance(data, Mapping):
        raise RuleError({None: "The targeting rule must be an object."})
    match = data.get("match", "all")
    raw_conditions = data.get("conditions", [])
    errors: dict[int | None, str] = {}
    if match not in ("all", "any"):
        errors[None] = "Match must be “all” or “any”."
    if not isinstance(raw_conditions, list):
        raise RuleError({None: "Conditions must be a list."})
    if len(raw_conditions) > MAX_CONDITIONS:
        raise RuleError({None: f"A rule has at most {MAX_CONDITIONS} conditions."})
    conditions = []
    for index, raw in enumerate(raw_conditions):
        if not isinstance(raw, Mapping):
            errors[index] = "A condition must be an object."
            continue
        type_, op = raw.get("type"), raw.get("op")
        if type_ not in OPERATORS:
            errors[index] = "Choose an attribute or a visitor condition."
            continue
        if op not in OPERATORS[type_]:
            errors[index] = f"“{op}” is not an operator for {type_} values."
            continue
        key = ""
        if type_ != "visitor":
            key = str(raw.get("key") or "").strip()
            if not key:
                errors[index] = "Choose an attribute."
                continue
            if "\x00" in key:
                errors[index] = NUL_REFUSED
                continue
        try:
            value = _clean_value(type_, op, raw.get("value"))
        except ValueError as error:
            errors[index] = str(error)
            continue
        conditions.append(Condition(type=type_, op=op, key=key, value=value))
    if errors:
        raise RuleError(errors)
    return Rule(match=match, conditions=tuple(conditions))


# --- evaluation for one visitor ----------------------------------------------------------


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _day_end(day: date) -> datetime:
    """Where the day ends: the next day's start, or for the calendar's last day (a stored
    9999-12-31 often means "never expires") its last microsecond, where Python's dates stop."""
    if day == date.max:
        return datetime.max.replace(tzinfo=UTC)
    return _day_start(day + timedelta(days=1))


def _matches_value(condition: Condition, value, now: datetime) -> bool:
    op, target = condition.op, condition.value
    if condition.type == ValueType.NUMBER:
        if op == "between":
            return target[0] <= value <= target[1]
        return {
            "eq": value == target,
            "ne": value != target,
            "gt": value > target,
            "gte": value >= target,
            "lt": value < target,
            "lte": value <= target,
        }[op]
    if condition.type == ValueType.STRING:
        if op == "equals":
            return value == target
        if op == "not_equals":
            return value != target
        if op == "in":
            return value in target
        folded, needle = fold_case(value), fold_case(target)
        return {
            "contains": needle in folded,
            "not_contains": needle not in folded,
            "starts_with": folded.startswith(needle),
            "ends_with": folded.endswith(needle),
        }[op]
    if condition.type == ValueType.DATE:
        if op == "before":
            return value < _day_start(target)
        if op == "after":
            return value >= _day_end(target)
        if op == "on":
            return _day_start(target) <= value < _day_end(target)
        if op == "more_than_days_ago":
            return value < now - timedelta(days=target)
        return now - timedelta(days=target) < value <= now
    return value is (op == "is_true")


@dataclass(frozen=True)
class Facts:
    """What a rule can look at for one visitor: identified or not, and typed attributes."""

    identified: bool
    attributes: Mapping[str, tuple[str, Any]]  # key -> (value_type, value)


def evaluate_condition(condition: Condition, facts: Facts, now: datetime) -> bool:
    if condition.type == "visitor":
        return facts.identified if condition.op == "identified" else not facts.identified
    stored = facts.attributes.get(condition.key)
    if condition.op == "is_set":
        return stored is not None
    if condition.op == "is_not_set":
        return stored is None
    if stored is None or stored[0] != condition.type:
        return False
    return _matches_value(condition, stored[1], now)


def evaluate(rule: Rule, facts: Facts, now: datetime) -> bool:
    results = (evaluate_condition(c, facts, now) for c in rule.conditions)
    if not rule.conditions:
        return True
    return all(results) if rule.match == "all" else any(results)


# A visitor Cohort knows nothing about: never identified, no attribute stored (a new
# visitor, or one whose calls were all refused). Such a visitor has no profile.
NOBODY_YET = Facts(identified=False, attributes={})


def matches_visitors_without_profile(rule: Rule, now: datetime) -> bool:
    """Whether the rule shows its widget to visitors that no profile counts: the count of
    matching profiles leaves out everyone new ("visitor is anonymous", "plan is not set",
    no conditions at all)."""
    return evaluate(rule, NOBODY_YET, now)


# --- compilation to SQL ------------------------------------------------------------------


def _value_q(condition: Condition, now: datetime) -> Q:
    op, target = condition.op, condition.value
    if condition.type == ValueType.NUMBER:
        if op == "between":
            return Q(number_value__gte=target[0], number_value__lte=target[1])
        lookups = {"eq": "exact", "gt": "gt", "gte": "gte", "lt": "lt", "lte": "lte"}
        if op == "ne":
            return ~Q(number_value=target)
        return Q(**{f"number_value__{lookups[op]}": target})
    if condition.type == ValueType.STRING:
        if op == "equals":
            return Q(string_value=target)
        if op == "not_equals":
            return ~Q(string_value=target)
        if op == "in":
            return Q(string_value__in=target)
        lookup = {
            "contains": "contains",
            "not_contains": "contains",
            "starts_with": "startswith",
            "ends_with": "endswith",
        }[op]
        q = Q(**{f"lowered__{lookup}": fold_case(target)})
        return ~q if op == "not_contains" else q
    if condition.type == ValueType.DATE:
        if op == "before":
            return Q(date_value__lt=_day_start(target))
        if op == "after":
            return Q(date_value__gte=_day_end(target))
        if op == "on":
            return Q(date_value__gte=_day_start(target), date_value__lt=_day_end(target))
        if op == "more_than_days_ago":
            return Q(date_value__lt=now - timedelta(days=target))
        return Q(date_value__gt=now - timedelta(days=target), date_value__lte=now)
    return Q(boolean_value=(op == "is_true"))


def _values_matching(condition: Condition, site_id: int, now: datetime) -> QuerySet:
    """The site's attribute rows that satisfy an attribute condition (at most one per
    profile: a profile holds one value per key)."""
    values = AttributeValue.objects.filter(site_id=site_id, key=condition.key)
    if condition.op == "is_set":
        return values
    values = values.filter(value_type=condition.type)
    if condition.type == ValueType.STRING and condition.op in (
        "contains",
        "not_contains",
        "starts_with",
        "ends_with",
    ):
        values = values.annotate(
            lowered=Replace(Lower("string_value"), Value(FINAL_SIGMA), Value(SIGMA))
        )
    return values.filter(_value_q(condition, now))


def _condition_q(
    condition: Condition,
    site_id: int,
    now: datetime,
    *,
    profile: str = "pk",
    user_id: str = "user_id",
) -> Q:
    """The condition as a filter on rows whose profile key is `profile` and whose
    profile's user id is reached through `user_id` (a Profile by default)."""
    if condition.type == "visitor":
        identified = Q(**{f"{user_id}__isnull": False})
        return identified if condition.op == "identified" else ~identified
    if condition.op in ANY_OPS:
        exists = Exists(
            AttributeValue.objects.filter(
                site_id=site_id, profile=OuterRef(profile), key=condition.key
            )
        )
        return Q(exists) if condition.op == "is_set" else ~Q(exists)
    return Q(Exists(_values_matching(condition, site_id, now).filter(profile=OuterRef(profile))))


def compile_rule(rule: Rule, *, site_id: int, now: datetime) -> Q:
    """A filter on Profile matching exactly the profiles `evaluate` says yes to."""
    if not rule.conditions:
        return Q()
    parts = [_condition_q(c, site_id, now) for c in rule.conditions]
    combined = parts[0]
    for part in parts[1:]:
        combined = combined & part if rule.match == "all" else combined | part
    return combined


MERGE_JOIN_SETTINGS = (
    "SET LOCAL enable_hashjoin = off; SET LOCAL max_parallel_workers_per_gather = 0"
)
# A merged count split at a profile id: each half's merge join runs in its own process.
COUNT_SLICES = 2
SLICED_MERGE_JOIN_SETTINGS = (
    f"SET LOCAL enable_hashjoin = off; SET LOCAL max_parallel_workers_per_gather = {COUNT_SLICES}"
)

LIKE_PATTERNS = {
    "contains": ("contains", "%{}%"),
    "not_contains": ("contains", "%{}%"),
    "starts_with": ("startswith", "{}%"),
    "ends_with": ("endswith", "%{}"),
}


@dataclass(frozen=True)
class CountSQL:
    """The statement that counts a rule's profiles, and how it should be planned.

    `merge_joins`: the statement joins typed attribute rows of several keys. PostgreSQL
    estimates a value range within one key far too low (it multiplies the key's
    selectivity by the range's share of the column, whose other rows are other types'
    nulls: 6-10x too few rows at 1M profiles), so left alone it hashes two value-ordered
    index scans, which is cache-miss bound at hundreds of thousands of rows. Planned
    with hash joins off it merges the per-key indexes ordered by profile, or probes them
    per row when a side is small; PostgreSQL's own parallel plan is kept off, because a
    parallel merge join reads its inner side once per worker.

    `sliced`: the merged count is the sum of COUNT_SLICES counts over ranges of profile
    ids, each range bounding every index scan of its join. PostgreSQL runs the slices in
    parallel workers (Parallel Append), so a count of hundreds of thousands of rows uses
    as many cores as there are slices; a small count is planned as one process, and when
    the server has no worker free the leader runs every slice itself (the same count, on
    one core).
    """

    sql: str
    params: list
    merge_joins: bool
    sliced: bool = False

    def statement(self, *, vendor: str, in_transaction: bool) -> str:
        """The text to execute: on PostgreSQL, a join of attribute rows is preceded by
        its planner settings, local to the statement's own (implicit) transaction, or
        inside a caller's transaction to a savepoint rolled back right after. One round
        trip either way; the count is the first result that has rows."""
        if vendor != "postgresql" or not self.merge_joins:
            return self.sql
        settings = SLICED_MERGE_JOIN_SETTINGS if self.sliced else MERGE_JOIN_SETTINGS
        planned = f"{settings}; {self.sql}"
        if not in_transaction:
            return planned
        return (
            f"SAVEPOINT targeting_count; {planned}; "
            "ROLLBACK TO SAVEPOINT targeting_count; RELEASE SAVEPOINT targeting_count"
        )


def _value_sql(condition: Condition, alias: str, now: datetime, connection) -> tuple[str, list]:
    """The condition on one attribute row (`alias`) of the condition's key and type."""
    op, target = condition.op, condition.value
    if condition.type == ValueType.NUMBER:
        column = f"{alias}.number_value"
        if op == "between":
            return f"{column} >= %s AND {column} <= %s", [target[0], target[1]]
        sign = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
        return f"{column} {sign} %s", [target]
    if condition.type == ValueType.STRING:
        column = f"{alias}.string_value"
        if op == "equals":
            return f"{column} = %s", [target]
        if op == "not_equals":
            return f"{column} <> %s", [target]
        if op == "in":
            return f"{column} IN ({', '.join(['%s'] * len(target))})", list(target)
        lookup, pattern = LIKE_PATTERNS[op]
        like = connection.operators[lookup]
        needle = pattern.format(connection.ops.prep_for_like_query(fold_case(target)))
        sql = f"REPLACE(LOWER({column}), '{FINAL_SIGMA}', '{SIGMA}') {like}"
        return (f"NOT ({sql})" if op == "not_contains" else sql), [needle]
    if condition.type == ValueType.DATE:
        column = f"{alias}.date_value"
        if op == "before":
            bounds = [("<", _day_start(target))]
        elif op == "after":
            bounds = [(">=", _day_end(target))]
        elif op == "on":
            bounds = [(">=", _day_start(target)), ("<", _day_end(target))]
        elif op == "more_than_days_ago":
            bounds = [("<", now - timedelta(days=target))]
        else:
            bounds = [(">", now - timedelta(days=target)), ("<=", now)]
        adapt = connection.ops.adapt_datetimefield_value
        return (
            " AND ".join(f"{column} {sign} %s" for sign, _ in bounds),
            [adapt(at) for _, at in bounds],
        )
    return f"{alias}.boolean_value = %s", [op == "is_true"]


def _rows_sql(
    condition: Condition, alias: str, site_id: int, now: datetime, connection
) -> tuple[str, list]:
    """The filter on attribute rows (`alias`) that satisfy an attribute condition; a
    profile has at most one row per key, so these rows are the matching profiles."""
    sql = f"{alias}.site_id = %s AND {alias}.key = %s"
    params: list = [site_id, condition.key]
    if condition.op in ANY_OPS:
        return sql, params
    value_sql, value_params = _value_sql(condition, alias, now, connection)
    return f"{sql} AND {alias}.value_type = %s AND {value_sql}", [
        *params,
        condition.type,
        *value_params,
    ]


def _profile_sql(
    condition: Condition,
    index: int,
    profile_id: str,
    site_id: int,
    now: datetime,
    connection,
    bound: str = "",
    bound_params: tuple = (),
) -> tuple[str, list]:
    """The condition as a test of the profile whose key is the SQL `profile_id`; an
    attribute condition's rows are limited by `bound` (a range of `{alias}.profile_id`)."""
    if condition.type == "visitor":
        null = "IS NOT NULL" if condition.op == "identified" else "IS NULL"
        return (
            f"EXISTS (SELECT 1 FROM {table(Profile)} p{index} WHERE p{index}.id = {profile_id}"
            f" AND p{index}.site_id = %s AND p{index}.user_id {null})",
            [site_id],
        )
    alias = f"v{index}"
    rows, params = _rows_sql(condition, alias, site_id, now, connection)
    exists = (
        f"EXISTS (SELECT 1 FROM {table(AttributeValue)} {alias}"
        f" WHERE {rows} AND {alias}.profile_id = {profile_id}{bound.format(alias=alias)})"
    )
    params += bound_params
    return (f"NOT {exists}" if condition.op == "is_not_set" else exists), params


def _anchor(rule: Rule) -> Condition | None:
    """The condition a count of the rule is read from when every condition is needed:
    the first positive attribute condition (None: the count reads the site's profiles)."""
    if rule.match != "all":
        return None
    return next((c for c in rule.conditions if c.uses_attributes and c.op != "is_not_set"), None)


def merge_anchor(rule: Rule) -> Condition | None:
    """The anchor of a count that merges several keys' typed rows (`CountSQL.merge_joins`),
    or None for any other count."""
    anchor = _anchor(rule)
    # Merge planning pays off when every condition reads one key's typed rows, which the
    # per-key indexes ordered by profile hold. A key of any type (`is_set`) has no such
    # index, and a visitor condition reads profiles: those joins keep the default plan.
    if anchor is None or len(rule.conditions) < 2:
        return None
    if all(c.uses_attributes and c.op not in ANY_OPS for c in rule.conditions):
        return anchor
    return None


def count_sql(
    rule: Rule, *, site_id: int, now: datetime, connection, split: int | None = None
) -> CountSQL:
    """The SQL whose single value is the number of the site's profiles the rule matches,
    written directly (no ORM query building: a preview count of a few rows costs well
    under a millisecond in the database, and the builder asks for one per change).

    A rule that needs every condition and has a positive attribute condition is counted
    from that condition's attribute rows (one per profile, read from the per-type index)
    with the other conditions checked against each row's profile, instead of from every
    profile of the site. Any other rule is counted over the site's profiles. The result
    equals `compile_rule` on Profile, and so `evaluate`, which the tests check.

    With `split` (a profile id), a count merging several keys' rows is the sum of the
    counts below and from `split` (`CountSQL.sliced`); any split gives the same number.
    """
    anchor = _anchor(rule)
    if anchor is None:
        sql = f"SELECT COUNT(*) FROM {table(Profile)} p WHERE p.site_id = %s"
        params: list = [site_id]
        if rule.conditions:
            parts = [
                _profile_sql(c, i, "p.id", site_id, now, connection)
                for i, c in enumerate(rule.conditions)
            ]
            glue = " AND " if rule.match == "all" else " OR "
            sql += f" AND ({glue.join(part for part, _ in parts)})"
            params += [value for _, part_params in parts for value in part_params]
        return CountSQL(sql, params, merge_joins=False)
    others = [c for c in rule.conditions if c is not anchor]
    merge_joins = merge_anchor(rule) is not None
    if not merge_joins or split is None:
        sql, params = _anchored_sql(anchor, others, site_id, now, connection)
        return CountSQL(sql, params, merge_joins=merge_joins)
    below, below_params = _anchored_sql(
        anchor, others, site_id, now, connection, " AND {alias}.profile_id < %s", (split,)
    )
    above, above_params = _anchored_sql(
        anchor, others, site_id, now, connection, " AND {alias}.profile_id >= %s", (split,)
    )
    return CountSQL(
        f"SELECT CAST(SUM(n) AS bigint) FROM ({below} UNION ALL {above}) slices",
        below_params + above_params,
        merge_joins=True,
        sliced=True,
    )


def _anchored_sql(
    anchor: Condition,
    others: list[Condition],
    site_id: int,
    now: datetime,
    connection,
    bound: str = "",
    bound_params: tuple = (),
) -> tuple[str, list]:
    """The count read from the anchor's attribute rows, each row's profile checked against
    the other conditions; `bound` limits every attribute row read to a range of profiles
    (repeated in each subquery: PostgreSQL carries equalities between joined columns,
    not ranges, so an unbounded side would be read from its start)."""
    sql, params = _rows_sql(anchor, "a", site_id, now, connection)
    sql = f"SELECT COUNT(*) AS n FROM {table(AttributeValue)} a WHERE {sql}"
    sql += bound.format(alias="a")
    params += bound_params
    for index, condition in enumerate(others):
        part, part_params = _profile_sql(
            condition, index, "a.profile_id", site_id, now, connection, bound, bound_params
        )
        sql += f" AND {part}"
        params += part_params
    return sql, params


__all__ = [
    "OPERATORS",
    "Condition",
    "CountSQL",
    "Facts",
    "Rule",
    "RuleError",
    "compile_rule",
    "count_sql",
    "evaluate",
    "merge_anchor",
    "parse_rule",
]
