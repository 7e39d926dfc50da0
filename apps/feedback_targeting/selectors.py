"""Reads for widgets: the builder, the live decision of what a visitor sees, results."""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Count, QuerySet
from django.http import Http404

from apps.feedback_targeting.models import Question, Response, Widget
from apps.feedback_targeting.rules import Facts, Rule, count_sql, evaluate, parse_rule
from apps.identity.models import Visitor
from apps.sites.models import Site
from apps.user_attributes.models import AttributeKey, AttributeValue

DECISION_CACHE_SECONDS = 60
EMOTIONS = {1: "Hate", 2: "Dislike", 3: "Neutral", 4: "Like", 5: "Love"}


def widgets_with_response_counts(*, site: Site) -> QuerySet[Widget]:
    """The site's widgets for the list page, each with `response_count`."""
    return Widget.objects.filter(site=site).annotate(response_count=Count("responses"))


def widget_get_for_site(*, site: Site, pk: int) -> Widget:
    """The site's widget; another site's widget is "not found"."""
    widget = Widget.objects.filter(site=site, pk=pk).first()
    if widget is None:
        raise Http404("No such widget.")
    return widget


def widget_rule(*, widget: Widget) -> Rule:
    return parse_rule(widget.targeting)


def targeting_count(*, site: Site, rule: Rule, now: datetime) -> int:
    """How many of the site's profiles the rule matches right now, in one round trip."""
    db = connections[DEFAULT_DB_ALIAS]
    query = count_sql(rule, site_id=site.pk, now=now, connection=db)
    statement = query.statement(vendor=db.vendor, in_transaction=db.in_atomic_block)
    with db.cursor() as cursor:
        cursor.execute(statement, query.params)
        if statement != query.sql:
            # The planner settings came first; the count is the first result with rows.
            while cursor.description is None and cursor.nextset():
                pass
        return cursor.fetchone()[0]


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
    """What the tracking script needs to render a widget."""
    payload = {
        "id": widget.pk,
        "kind": widget.kind,
        "name": widget.name,
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
        payload["emotions"] = [{"value": v, "label": label} for v, label in EMOTIONS.items()]
    return payload


@dataclass(frozen=True)
class LiveWidget:
    id: int
    kind: str
    rule: Rule
    url_contains: str
    payload: dict


def _decision_cache_key(site_id: int) -> str:
    return f"widgets:live:{site_id}"


def live_widgets(*, site: Site) -> list[LiveWidget]:
    """The site's active widgets with parsed rules, cached until a widget changes."""
    key = _decision_cache_key(site.pk)
    cached = cache.get(key)
    if cached is not None:
        return cached
    live = [
        LiveWidget(
            id=w.pk,
            kind=w.kind,
            rule=parse_rule(w.targeting),
            url_contains=w.url_contains,
            payload=widget_payload(w),
        )
        for w in Widget.objects.filter(site=site, status=Widget.Status.ACTIVE)
        .prefetch_related("questions")
        .order_by("created_at", "pk")
    ]
    cache.set(key, live, DECISION_CACHE_SECONDS)
    return live


def live_widgets_forget(*, site_id: int) -> None:
    cache.delete(_decision_cache_key(site_id))


def visitor_facts(*, site: Site, visitor: Visitor | None, with_attributes: bool) -> Facts:
    if visitor is None or visitor.profile_id is None:
        return Facts(identified=False, attributes={})
    attributes = {}
    if with_attributes:
        for value in AttributeValue.objects.filter(site=site, profile_id=visitor.profile_id):
            attributes[value.key] = (value.value_type, value.value)
    return Facts(identified=visitor.profile.user_id is not None, attributes=attributes)


def widgets_for_visitor(*, site: Site, visitor_id: str, url: str, now: datetime) -> list[dict]:
    """The active widgets this visitor matches now, polls already answered left out."""
    live = [w for w in live_widgets(site=site) if not w.url_contains or w.url_contains in url]
    if not live:
        return []
    visitor = (
        Visitor.objects.select_related("profile").filter(site=site, visitor_id=visitor_id).first()
    )
    facts = visitor_facts(
        site=site, visitor=visitor, with_attributes=any(w.rule.uses_attributes for w in live)
    )
    answered: set[int] = set()
    polls = [w.id for w in live if w.kind == Widget.Kind.POLL]
    if visitor is not None and visitor.profile_id is not None and polls:
        # Answers follow the person across devices, so one answer on any device counts.
        answered = set(
            Response.objects.filter(
                site=site, profile_id=visitor.profile_id, widget_id__in=polls
            ).values_list("widget_id", flat=True)
        )
    return [w.payload for w in live if w.id not in answered and evaluate(w.rule, facts, now)]


# --- results -------------------------------------------------------------------------------


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


def _counts(labels: list[str], counter: Counter, total: int) -> list[AnswerCount]:
    return [
        AnswerCount(
            label=label, count=counter[label], share=(counter[label] / total if total else 0)
        )
        for label in labels
    ]


def widget_results(*, widget: Widget) -> dict:
    """Counts per answer for every question (or per emotion), and the responses."""
    questions = list(widget.questions.all())
    responses = list(
        Response.objects.filter(site_id=widget.site_id, widget=widget)
        .select_related("profile")
        .prefetch_related("profile__attributes")
        .order_by("-created_at", "-pk")
    )
    results = []
    for question in questions:
        counter: Counter = Counter()
        texts = []
        answered = 0
        for response in responses:
            answer = response.answers.get(str(question.pk))
            if answer in (None, "", []):
                continue
            answered += 1
            if question.kind == Question.Kind.TEXT:
                texts.append(answer)
            elif question.kind == Question.Kind.MULTIPLE:
                counter.update(answer)
            else:
                counter[str(answer)] += 1
        labels = (
            [str(n) for n in range(1, 6)]
            if question.kind == Question.Kind.RATING
            else question.choices
        )
        results.append(
            QuestionResult(
                question=question,
                counts=_counts(labels, counter, answered) if question.kind != "text" else [],
                texts=texts,
                answered=answered,
            )
        )
    emotions = Counter(str(r.emotion) for r in responses if r.emotion)
    emotion_total = sum(emotions.values())
    return {
        "questions": results,
        "emotions": [
            AnswerCount(label=label, count=emotions[str(v)], share=emotions[str(v)] / emotion_total)
            for v, label in EMOTIONS.items()
        ]
        if widget.kind == Widget.Kind.FEEDBACK and emotion_total
        else [],
        "responses": responses,
        "total": len(responses),
    }


def widget_responses_for_export(*, widget: Widget) -> QuerySet[Response]:
    """Every response of the widget, oldest first, with its visitor and profile."""
    return (
        Response.objects.filter(site_id=widget.site_id, widget=widget)
        .select_related("visitor", "profile")
        .order_by("created_at", "pk")
    )


def widget_results_export(*, widget: Widget) -> tuple[list[str], Iterator[list[str]]]:
    """The CSV export: a header, then one row per response (oldest first) with time,
    visitor id, user id, each question's answer, emotion, comment, email (only with the
    consent to connect) and the consent flag. Values are plain text, not yet escaped."""
    questions = list(widget.questions.all())
    header = [
        "time (UTC)",
        "visitor id",
        "user id",
        *(f"Q{q.position + 1}: {q.text}" for q in questions),
        "emotion (1 hate - 5 love)",
        "comment",
        "email",
        "consent to connect",
    ]

    def answer(response: Response, question: Question) -> str:
        value = response.answers.get(str(question.pk))
        if value in (None, "", []):
            return ""
        return "; ".join(map(str, value)) if isinstance(value, list) else str(value)

    def rows() -> Iterator[list[str]]:
        for response in widget_responses_for_export(widget=widget).iterator(chunk_size=2000):
            yield [
                response.created_at.astimezone(UTC).isoformat(),
                response.visitor.visitor_id,
                response.profile.user_id or "",
                *(answer(response, q) for q in questions),
                str(response.emotion or ""),
                response.comment,
                response.email if response.consent_to_connect else "",
                "yes" if response.consent_to_connect else "no",
            ]

    return header, rows()
