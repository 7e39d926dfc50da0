"""Reads for widgets: the builder, the live decision of what a visitor sees, results."""

import functools
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote

from django.core.paginator import Page, Paginator
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from rest_framework.renderers import JSONRenderer

from apps.billing import selectors as billing  # billing reads the widgets in turn
from apps.common.localcache import STAMP_CHECK_SECONDS, StampedLocalCache
from apps.common.sql import JsonKeyText, JsonKeyType, table, text_cursor
from apps.feedback_targeting.models import Question, Response, Widget
from apps.feedback_targeting.rules import (
    CountSQL,
    Facts,
    Rule,
    count_sql,
    evaluate,
    merge_anchor,
    parse_rule,
)
from apps.feedback_targeting.texts import widget_texts
from apps.identity.models import Profile, Visitor
from apps.sites.models import Site
from apps.sites.selectors import sites_of_account
from apps.user_attributes.models import AttributeKey, AttributeValue, ValueType

DECISION_CACHE_SECONDS = 60
# The results page: responses shown per page, latest text answers listed per question.
RESPONSES_PER_PAGE = 100
LATEST_TEXTS = 100
EMOTIONS = {1: "Hate", 2: "Dislike", 3: "Neutral", 4: "Like", 5: "Love"}


def widgets_with_response_counts(*, site: Site) -> QuerySet[Widget]:
    """The site's widgets for the list page, newest first, each with `response_count`:
    counted per widget from the responses' (site, widget) index, where joining every
    response of the site to its widget would read them all from the table."""
    counts = (
        Response.objects.filter(site_id=OuterRef("site_id"), widget_id=OuterRef("pk"))
        .order_by()
        .values("widget_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Widget.objects.filter(site=site)
        .annotate(response_count=Coalesce(Subquery(counts), 0))
        .order_by("-created_at", "-id")
    )


def widgets_targeting_key(*, site: Site, key: str) -> list[Widget]:
    """The site's widgets whose targeting looks at the attribute `key`."""
    return [
        widget
        for widget in Widget.objects.filter(site=site).order_by("name")
        if any(c.get("key") == key for c in (widget.targeting or {}).get("conditions", []))
    ]


# Why Cohort switched a widget off, as its pages say it.
REASON_UA_DISABLED = "User Attributes were disabled for this site, and this widget targets on them."
REASON_PLAN = "The plan no longer includes User Attributes, and this widget targets on them."
REASON_NO_LONGER = (
    "Cohort switched it off when its targeting on User Attributes could not run; it can "
    "run now, so it can be activated again."
)


def attributes_unavailable(site: Site) -> str:
    """Why a widget targeting on attributes may not run on this site now ("" if it may)."""
    if not billing.user_attributes_access(account=site.account).allowed:
        return REASON_PLAN
    if not site.user_attributes_enabled:
        return REASON_UA_DISABLED
    return ""


def widget_switched_off_reason(*, widget: Widget, site: Site) -> str:
    """Why a widget Cohort switched off is off now: what blocks its targeting today (the
    plan, or User Attributes disabled), or that it can run again. The reason stored when
    it was switched off may have gone, or changed, since."""
    blocked = attributes_unavailable(site) if parse_rule(widget.targeting).uses_attributes else ""
    return blocked or REASON_NO_LONGER


def widgets_switched_off_count(*, site: Site) -> int:
    """How many of the site's widgets Cohort switched off (their attributes went away)."""
    return Widget.objects.filter(site=site, status=Widget.Status.DISABLED).count()


def widgets_running_on_attributes(widgets: QuerySet[Widget]) -> list[Widget]:
    """Those of `widgets` that run (active or paused) and target attributes: the ones
    Cohort switches off when the attributes go away."""
    running = widgets.filter(status__in=[Widget.Status.ACTIVE, Widget.Status.PAUSED])
    return [w for w in running if parse_rule(w.targeting).uses_attributes]


def widgets_using_attributes_count(*, account) -> int:
    """How many of the account's widgets a plan without User Attributes switches off."""
    widgets = Widget.objects.filter(site__in=sites_of_account(account=account))
    return len(widgets_running_on_attributes(widgets))


@dataclass(frozen=True)
class SwitchedOff:
    """An account's widgets Cohort switched off, by whether they can run again now."""

    can_run: int
    site_names_blocked: list[str]  # sites whose User Attributes are disabled


def widgets_switched_off_in_account(*, account, reason: str) -> SwitchedOff:
    """The account's widgets Cohort switched off for `reason` (e.g. the plan's): how many
    may be switched on again now, and the sites where User Attributes must be enabled
    first."""
    widgets = Widget.objects.filter(
        site__in=sites_of_account(account=account),
        status=Widget.Status.DISABLED,
        disabled_reason=reason,
    )
    can_run, blocked = 0, set()
    for widget in widgets.select_related("site__account"):
        if widget_switched_off_reason(widget=widget, site=widget.site) == REASON_NO_LONGER:
            can_run += 1
        elif not widget.site.user_attributes_enabled:
            blocked.add(widget.site.name)
    return SwitchedOff(can_run=can_run, site_names_blocked=sorted(blocked))


def widget_get_for_site(*, site: Site, pk: int) -> Widget:
    """The site's widget; another site's widget is "not found"."""
    widget = Widget.objects.filter(site=site, pk=pk).first()
    if widget is None:
        raise Http404("No such widget.")
    return widget


def widget_rule(*, widget: Widget) -> Rule:
    return parse_rule(widget.targeting)


def targeting_count(*, site: Site, rule: Rule, now: datetime) -> int:
    """How many of the site's profiles the rule matches right now: one round trip, two
    for a count that merges several keys' rows on PostgreSQL (`targeting_count_sql`)."""
    db = connections[DEFAULT_DB_ALIAS]
    query = targeting_count_sql(site=site, rule=rule, now=now)
    # Inside atomic() or with autocommit turned off, a transaction is open already.
    statement = query.statement(vendor=db.vendor, in_transaction=not db.get_autocommit())
    with text_cursor(db) as cursor:
        cursor.execute(statement, query.params)
        if statement != query.sql:
            # The planner settings came first; the count is the first result with rows.
            while cursor.description is None and cursor.nextset():
                pass
        return cursor.fetchone()[0]


def targeting_count_sql(*, site: Site, rule: Rule, now: datetime) -> CountSQL:
    """The statement `targeting_count` runs. A count that merges several keys' rows on
    PostgreSQL is split at the midpoint between the lowest and the highest profile id
    holding its first key (the two ends of that key's index), so that each half runs in
    its own process. Not the median, which would cost a scan: the halves are even when
    the key's profiles spread evenly over the ids, as they do when ids grow with time."""
    db = connections[DEFAULT_DB_ALIAS]
    anchor = merge_anchor(rule)
    split = None
    if db.vendor == "postgresql" and anchor is not None:
        # The type is one of ours and written into the text, so that the planner matches
        # the type's partial index and reads only its two ends.
        value_type = ValueType(anchor.type).value
        with db.cursor() as cursor:
            cursor.execute(
                f"SELECT MIN(profile_id), MAX(profile_id) FROM {table(AttributeValue)} "
                f"WHERE site_id = %s AND key = %s AND value_type = '{value_type}'",
                [site.pk, anchor.key],
            )
            low, high = cursor.fetchone()
        if low is not None:
            split = (low + high) // 2 + 1
    return count_sql(rule, site_id=site.pk, now=now, connection=db, split=split)


@dataclass(frozen=True)
class KeyChoice:
    key: str
    value_type: str
    types_seen: list[str]


def attribute_choices(*, site: Site) -> list[KeyChoice]:
    """The site's known attribute keys with their types, for the rule editor."""
    return [
        KeyChoice(key=k.key, value_type=k.value_type, types_seen=k.types_seen)
        for k in AttributeKey.objects.filter(site=site).order_by("key")
    ]


def profiles_with_consent_email(*, site: Site, email: str) -> QuerySet:
    """Profiles that gave this email with a feedback response and the consent to connect."""
    return Response.objects.filter(site=site, email=email, consent_to_connect=True).values(
        "profile_id"
    )


# --- the live decision ---------------------------------------------------------------------


def widget_payload(widget: Widget) -> dict:
    """What the tracking script needs to render a widget: no more, since every visitor it
    is meant for can read it (the widget's name, for the customer's team, stays out)."""
    payload = {
        "id": widget.pk,
        "kind": widget.kind,
        "language": widget.language,
        "thank_you_message": widget.thank_you_message,
        "questions": [
            {
                "id": q.pk,
                "kind": q.kind,
                "text": q.text,
                "choices": q.choices,
                "required": q.required,
            }
            for q in widget.questions.all()
        ],
    }
    if widget.kind == Widget.Kind.FEEDBACK:
        texts = widget_texts(widget.language)
        payload["emotions"] = [{"value": v, "label": texts[f"emotion_{v}"]} for v in EMOTIONS]
    return payload


@dataclass(frozen=True)
class LiveWidget:
    """A running widget as every decision of this process shares it: never change it or
    its payload."""

    id: int
    kind: str
    rule: Rule
    url_contains: str
    payload: dict
    # The payload as the API's JSON renderer writes it (compact JSON joins by commas).
    payload_json: bytes
    # Widgets with equal rules share one index: a decision evaluates each rule once.
    rule_index: int


# Each process keeps the live widgets of a site as Python objects (parsed rules, payloads)
# until a widget of the site changes (`live_widgets_forget`: seen at once here, within
# STAMP_CHECK_SECONDS elsewhere) or DECISION_CACHE_SECONDS pass.
_live_widgets: StampedLocalCache[list[LiveWidget]] = StampedLocalCache(
    "widgets-live", seconds=DECISION_CACHE_SECONDS, check_every=STAMP_CHECK_SECONDS
)


def live_widgets(*, site: Site) -> list[LiveWidget]:
    """The site's active widgets with parsed rules, kept until a widget changes."""
    return _live_widgets.get(site.pk, lambda: _live_widgets_load(site=site))


def _live_widgets_load(*, site: Site) -> list[LiveWidget]:
    renderer = JSONRenderer()
    rules: dict[Rule, int] = {}
    live = []
    for w in (
        Widget.objects.filter(site=site, status=Widget.Status.ACTIVE)
        .prefetch_related("questions")
        .order_by("created_at", "pk")
    ):
        rule, payload = parse_rule(w.targeting), widget_payload(w)
        live.append(
            LiveWidget(
                id=w.pk,
                kind=w.kind,
                rule=rule,
                url_contains=w.url_contains,
                payload=payload,
                payload_json=renderer.render(payload),
                rule_index=rules.setdefault(rule, len(rules)),
            )
        )
    return live


def live_widgets_forget(*, site_id: int) -> None:
    """Every process loads the site's live widgets again (call on every change to a
    widget, its questions or its status)."""
    _live_widgets.forget(site_id)


def _stored_value(value_type: str, number, string, date, boolean):
    """A value read by hand-written SQL, typed as the ORM would give it (SQLite returns
    datetimes as naive UTC text and booleans as 0 / 1)."""
    if value_type == ValueType.NUMBER:
        return number
    if value_type == ValueType.STRING:
        return string
    if value_type == ValueType.DATE:
        return datetime.fromisoformat(date).replace(tzinfo=UTC) if isinstance(date, str) else date
    return bool(boolean)


@functools.lru_cache(maxsize=256)
def _decision_sql(with_attributes: bool, poll_ids: tuple[int, ...]) -> tuple[str, int]:
    """The statement of `visitor_decision_facts` and its number of parts. Its parameters
    are the site's id and the visitor id, then the site's id once per part: the visitor is
    found once (a CTE referenced by every part, which PostgreSQL computes once), and each
    part names the site itself so that the planner reads the (site, profile) indexes."""
    parts = [
        "SELECT 0, p.user_id, NULL, NULL, NULL, NULL, NULL "
        f"FROM v JOIN {table(Profile)} p ON p.site_id = %s AND p.id = v.profile_id"
    ]
    if with_attributes:
        parts.append(
            "SELECT 1, a.key, a.value_type, a.number_value, a.string_value, a.date_value, "
            f"a.boolean_value FROM v JOIN {table(AttributeValue)} a "
            "ON a.site_id = %s AND a.profile_id = v.profile_id"
        )
    if poll_ids:
        # The ids are written into the text (integers of our own rows): the statement then
        # stays the same from one request to the next, and psycopg parses it only once.
        ids = ", ".join(str(int(pk)) for pk in poll_ids)
        parts.append(
            f"SELECT 2, NULL, NULL, r.widget_id, NULL, NULL, NULL FROM v "
            f"JOIN {table(Response)} r ON r.site_id = %s AND r.profile_id = v.profile_id "
            f"AND r.widget_id IN ({ids})"
        )
    sql = (
        f"WITH v AS (SELECT profile_id FROM {table(Visitor)} "
        "WHERE site_id = %s AND visitor_id = %s) " + " UNION ALL ".join(parts)
    )
    return sql, len(parts)


def visitor_decision_facts(
    *, site: Site, visitor_id: str, with_attributes: bool, poll_ids: list[int]
) -> tuple[Facts, set[int]]:
    """The visitor's facts for evaluating rules, and which of `poll_ids` its person
    already answered on any device, in one statement (for decisions and answers alike):
    the profile, then (if asked) its attribute values, then (if any polls) the polls it
    answered, as rows of one UNION ALL (a poll's id travels in the number column, whose
    type every part can share). A visitor without a profile has no rows: not identified,
    no attributes, nothing answered."""
    sql, parts = _decision_sql(with_attributes, tuple(poll_ids))
    with connection.cursor() as cursor:
        cursor.execute(sql, [site.pk, visitor_id, *[site.pk] * parts])
        rows = cursor.fetchall()
    identified, attributes, answered = False, {}, set()
    for kind, text, value_type, number, string, date, boolean in rows:
        if kind == 0:
            identified = text is not None
        elif kind == 1:
            attributes[text] = (
                value_type,
                _stored_value(value_type, number, string, date, boolean),
            )
        else:
            answered.add(int(number))
    return Facts(identified=identified, attributes=attributes), answered


def page_url_contains(url: str, part: str) -> bool:
    """Whether a page's address holds `part` (a widget's page condition; "" holds for
    every page). Both are compared percent-decoded too: browsers send /über-uns as
    /%C3%BCber-uns and a space as %20, and a customer may write either spelling."""
    return not part or part in url or unquote(part) in unquote(url)


def widget_decision(*, site: Site, visitor_id: str, url: str, now: datetime) -> list[LiveWidget]:
    """The active widgets this visitor matches now, polls already answered left out."""
    live = [w for w in live_widgets(site=site) if page_url_contains(url, w.url_contains)]
    if not live:
        return []
    # Answers follow the person across devices, so one answer on any device counts.
    facts, answered = visitor_decision_facts(
        site=site,
        visitor_id=visitor_id,
        with_attributes=any(w.rule.uses_attributes for w in live),
        poll_ids=[w.id for w in live if w.kind == Widget.Kind.POLL],
    )
    matches: dict[int, bool] = {}
    chosen = []
    for w in live:
        if w.id in answered:
            continue
        match = matches.get(w.rule_index)
        if match is None:
            match = matches[w.rule_index] = evaluate(w.rule, facts, now)
        if match:
            chosen.append(w)
    return chosen


def widgets_for_visitor(*, site: Site, visitor_id: str, url: str, now: datetime) -> list[dict]:
    """The payloads of `widget_decision` (shared by every decision: read them only)."""
    return [w.payload for w in widget_decision(site=site, visitor_id=visitor_id, url=url, now=now)]


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GivenAnswer:
    label: str
    text: str  # "" when the question was skipped


def answer_text(value: object, separator: str = ", ") -> str:
    """A stored answer as text: a multiple choice's choices joined, "" when skipped."""
    if value in (None, "", []):
        return ""
    return separator.join(map(str, value)) if isinstance(value, list) else str(value)


def removed_question_label(key: str, removed: dict | None = None) -> str:
    """How an answer to a removed question is labelled: with what it asked, where the
    widget kept that (`Widget.removed_questions`)."""
    text = (removed or {}).get(key)
    return f"removed question (id {key}): {text}" if text else f"removed question (id {key})"


def given_answers(response: Response, questions: list[Question]) -> list[GivenAnswer]:
    """A poll response's answers: one per question the poll has (in its order, "" when
    skipped), then those to questions removed since (oldest question first), labelled by
    the question's id and, when the response's widget is at hand (read with it), what it
    asked: what someone wrote stays visible after the question went."""
    answers = response.answers if isinstance(response.answers, dict) else {}
    current = {str(question.pk) for question in questions}
    removed = sorted((key for key in answers if key not in current and key.isdigit()), key=int)
    texts = response.widget.removed_questions if Response.widget.is_cached(response) else {}
    return [
        *(GivenAnswer(q.text, answer_text(answers.get(str(q.pk)))) for q in questions),
        *(
            GivenAnswer(removed_question_label(key, texts), answer_text(answers[key]))
            for key in removed
        ),
    ]


@dataclass(frozen=True)
class AnswerCount:
    label: str
    count: int
    share: float


@dataclass(frozen=True)
class QuestionResult:
    question: Question
    counts: list[AnswerCount]
    texts: list[str]
    answered: int
    # Answers the bars leave out: (answer, how many) for choices the question no longer
    # offers (renamed or removed), or answers from before it changed kind; most first.
    retired: list[tuple[str, int]] = ()


def _counts(labels: list[str], counter: Counter, total: int) -> list[AnswerCount]:
    return [
        AnswerCount(
            label=label, count=counter[label], share=(counter[label] / total if total else 0)
        )
        for label in labels
    ]


def _choices(value: str) -> list[str]:
    """The choices of a multiple-choice answer, from its list's JSON text."""
    return [c for c in json.loads(value) if isinstance(c, str)]


def _question_result(
    responses: QuerySet[Response], question: Question, latest_texts: int
) -> QuestionResult:
    """One question's counts per answer (or, for a text question, its latest answers),
    counted by the database: one grouped read per question."""
    answers = responses.annotate(
        answer=JsonKeyText("answers", str(question.pk)),
        answer_type=JsonKeyType("answers", str(question.pk)),
    )
    if question.kind == Question.Kind.TEXT:
        given = answers.exclude(answer__isnull=True).exclude(answer="")
        texts = list(
            given.order_by("-created_at", "-pk").values_list("answer", flat=True)[:latest_texts]
        )
        return QuestionResult(question=question, counts=[], texts=texts, answered=given.count())
    labels = (
        [str(n) for n in range(1, 6)] if question.kind == Question.Kind.RATING else question.choices
    )
    known = set(labels)
    counter: Counter = Counter()
    retired: Counter = Counter()
    answered = 0
    grouped = answers.values_list("answer", "answer_type").annotate(n=Count("pk")).order_by()
    for value, json_type, n in grouped:
        if value is None or value == "":
            continue
        # A question may have changed kind since: a single answer from before it took
        # several is one of its choices; several from before it took one are listed apart.
        several = _choices(value) if json_type == "array" else None
        if several == []:
            continue  # none of the choices
        if several is None:
            given = [str(value)]
        elif question.kind == Question.Kind.MULTIPLE or len(several) == 1:
            given = several
        else:
            retired[", ".join(several)] += n
            continue
        # Only answers the question has a bar for count in the bars (so that their
        # shares add up to 100 %); the others are listed apart.
        for choice in given:
            if choice not in known:
                retired[choice] += n
        counted = [choice for choice in given if choice in known]
        for choice in counted:
            counter[choice] += n
        answered += n if counted else 0
    return QuestionResult(
        question=question,
        counts=_counts(labels, counter, answered),
        texts=[],
        answered=answered,
        retired=sorted(retired.items(), key=lambda item: (-item[1], item[0])),
    )


def widget_response_count(*, widget: Widget) -> int:
    return Response.objects.filter(site_id=widget.site_id, widget=widget).count()


def widget_results(*, widget: Widget, latest_texts: int = LATEST_TEXTS) -> dict:
    """Counts per answer for every question (or per emotion) over all of the widget's
    responses, and each text question's latest `latest_texts` answers.

    The database counts: a grouped read per question, one for the emotions and one for
    the total, so the time and memory do not grow with the responses held in Python. The
    responses to show are read a page at a time (`widget_responses_page`)."""
    responses = Response.objects.filter(site_id=widget.site_id, widget=widget)
    emotions: Counter = Counter()
    if widget.kind == Widget.Kind.FEEDBACK:
        grouped = responses.exclude(emotion=None).values_list("emotion").annotate(n=Count("pk"))
        emotions.update({str(emotion): n for emotion, n in grouped.order_by()})
    emotion_total = sum(emotions.values())
    return {
        "questions": [
            _question_result(responses, question, latest_texts)
            for question in widget.questions.all()
        ],
        "emotions": [
            AnswerCount(label=label, count=emotions[str(v)], share=emotions[str(v)] / emotion_total)
            for v, label in EMOTIONS.items()
        ]
        if emotion_total
        else [],
        "total": widget_response_count(widget=widget),
    }


def widget_responses_page(
    *, widget: Widget, page: object, total: int | None = None, per_page: int = RESPONSES_PER_PAGE
) -> Page:
    """One page of the widget's responses, newest first, with each responder's profile
    and attributes, and the widget itself (the one asked for: not read again per row).
    A page number that is not a number gives the first page, one past the end the last.
    `total`, when the caller counted the responses already, spares counting them again."""
    responses = (
        Response.objects.filter(site_id=widget.site_id, widget=widget)
        .select_related("profile")
        .prefetch_related(
            Prefetch(
                "profile__attributes",
                queryset=AttributeValue.objects.filter(site_id=widget.site_id),
            )
        )
        .order_by("-created_at", "-pk")
    )
    paginator = Paginator(responses, per_page)
    if total is not None:
        paginator.count = total  # a cached property: the count it would have run
    listed = paginator.get_page(page)
    for response in listed:
        response.widget = widget
    return listed


EXPORT_FIELDS = (
    "pk",
    "created_at",
    "visitor__visitor_id",
    "profile__user_id",
    "page_url",
    "answers",
    "emotion",
    "comment",
    "email",
    "consent_to_connect",
)


def widget_responses_for_export(*, widget: Widget) -> QuerySet:
    """Every response of the widget, oldest first, as rows of `EXPORT_FIELDS` (plain
    values: an export of a million responses builds no model instances)."""
    return (
        Response.objects.filter(site_id=widget.site_id, widget=widget)
        .order_by("created_at", "pk")
        .values(*EXPORT_FIELDS)
    )


def _answered_question_ids(widget: Widget) -> list[str]:
    """The question ids the widget's responses hold answers to, the widget's removed
    questions included: one read of the answers' keys by the database."""
    t = table(Response)
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT DISTINCT jsonb_object_keys(answers) FROM {t} "
            "WHERE site_id = %s AND widget_id = %s AND jsonb_typeof(answers) = 'object'"
        )
    else:
        sql = (
            f"SELECT DISTINCT j.key FROM {t}, json_each({t}.answers) AS j "
            f"WHERE {t}.site_id = %s AND {t}.widget_id = %s AND json_type({t}.answers) = 'object'"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [widget.site_id, widget.pk])
        return [row[0] for row in cursor.fetchall()]


def responses_in_pages(responses: QuerySet, size: int = 2000) -> Iterator[dict]:
    """The responses (rows with `created_at` and `pk`, ordered by both) a page of `size`
    at a time, each page read after the last one's row: memory stays at one page however
    many there are, with no cursor left open between reads (which a pooler in transaction
    mode could not carry). The bound on the time lets the index start each page at its
    first row instead of reading every row before it again."""
    after = None
    while True:
        page = responses
        if after is not None:
            at, pk = after
            page = page.filter(created_at__gte=at).filter(
                Q(created_at__gt=at) | Q(created_at=at, pk__gt=pk)
            )
        rows = list(page[:size])
        yield from rows
        if len(rows) < size:
            return
        after = (rows[-1]["created_at"], rows[-1]["pk"])


def widget_results_export(*, widget: Widget) -> tuple[list[str], Iterator[list[str]]]:
    """The CSV export: a header, then one row per response (oldest first) with time,
    visitor id, user id, the page it was given on, then a poll's answers (each question's,
    then those to questions since removed, oldest question first) or a feedback tab's
    emotion and comment, then the email (only with the consent to connect) and the
    consent flag. Values are plain text, not yet escaped."""
    poll = widget.kind == Widget.Kind.POLL
    questions = list(widget.questions.all()) if poll else []
    current = {str(q.pk) for q in questions}
    removed = (
        sorted(
            (key for key in _answered_question_ids(widget) if key not in current and key.isdigit()),
            key=int,
        )
        if poll
        else []
    )
    keys = [str(q.pk) for q in questions] + removed
    header = [
        "time (UTC)",
        "visitor id",
        "user id",
        "page",
        *(f"Q{q.position + 1}: {q.text}" for q in questions),
        *(removed_question_label(key, widget.removed_questions) for key in removed),
        *([] if poll else ["emotion (1 hate - 5 love)", "comment"]),
        "email",
        "consent to connect",
    ]

    def rows() -> Iterator[list[str]]:
        for row in responses_in_pages(widget_responses_for_export(widget=widget)):
            answers = row["answers"] if isinstance(row["answers"], dict) else {}
            consented = row["consent_to_connect"]
            yield [
                row["created_at"].astimezone(UTC).isoformat(),
                row["visitor__visitor_id"],
                row["profile__user_id"] or "",
                row["page_url"],
                *(answer_text(answers.get(key), "; ") for key in keys),
                *([] if poll else [str(row["emotion"] or ""), row["comment"]]),
                row["email"] if consented else "",
                "yes" if consented else "no",
            ]

    return header, rows()
