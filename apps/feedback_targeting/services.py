"""Writes for widgets: building, switching on and off, and visitors' responses."""

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from apps.accounts.events import account_event_record
from apps.accounts.models import Account, AccountEvent, User
from apps.billing.selectors import user_attributes_access
from apps.common.errors import ApplicationError
from apps.common.once import Once, make_once
from apps.common.sql import execute, fetch_one, table
from apps.feedback_targeting.models import Question, Response, Widget
from apps.feedback_targeting.rules import Rule, RuleError, evaluate, parse_rule
from apps.feedback_targeting.selectors import (  # noqa: F401 - the reasons, for their callers
    REASON_NO_LONGER,
    REASON_PLAN,
    REASON_UA_DISABLED,
    attributes_unavailable,
    live_widgets_forget,
    page_url_contains,
    visitor_decision_facts,
    widgets_running_on_attributes,
)
from apps.feedback_targeting.texts import DEFAULT_LANGUAGE, LANGUAGES, thank_you_in
from apps.identity.services import visitor_profile_ensure
from apps.sites.models import Site
from apps.sites.selectors import site_locked_for_change
from apps.user_attributes.validation import EMAIL_RE, MAX_EMAIL_LENGTH

MAX_QUESTIONS = 10
MAX_CHOICES = 12
MAX_TEXT_ANSWER = 2000


@dataclass(frozen=True)
class QuestionSpec:
    kind: str
    text: str
    choices: tuple[str, ...] = ()
    required: bool = True
    # The saved question this one edits (None: a new question). Its answers stay with it.
    question_id: int | None = None


def _check_questions(kind: str, questions: list[QuestionSpec]) -> None:
    if kind == Widget.Kind.POLL and not questions:
        raise ApplicationError("questions_required", "A poll needs at least one question.")
    if len(questions) > MAX_QUESTIONS:
        raise ApplicationError("too_many_questions", f"At most {MAX_QUESTIONS} questions.")
    for number, question in enumerate(questions, start=1):
        if question.kind not in Question.Kind.values:
            raise ApplicationError("invalid_question", f"Question {number}: unknown kind.")
        if not question.text.strip():
            raise ApplicationError("invalid_question", f"Question {number} has no text.")
        needs_choices = question.kind in (Question.Kind.SINGLE, Question.Kind.MULTIPLE)
        if needs_choices and not 2 <= len(question.choices) <= MAX_CHOICES:
            raise ApplicationError(
                "invalid_question",
                f"Question {number} needs between 2 and {MAX_CHOICES} choices.",
            )
        if needs_choices and len(set(question.choices)) != len(question.choices):
            raise ApplicationError("invalid_question", f"Question {number} repeats a choice.")


def _attributes_remedy(site: Site, reason: str) -> str:
    """What lets a widget refused for `reason` run again, besides dropping its attribute
    conditions."""
    if reason == REASON_PLAN:
        access = user_attributes_access(account=site.account)
        if access.remedy == "contact_support":
            return "or ask support to move the account to billing version 2"
        return "or upgrade the plan to Business or higher"
    return "or enable User Attributes for this site"


def _attributes_unavailable_locked(site: Site) -> str:
    """`attributes_unavailable`, read under the locks that a plan change (the account's
    row) and switching User Attributes on or off (the site's row) take: neither can
    commit between this check and the widget's switch-on, so their switch-off never
    misses it. Call inside a transaction.

    FOR NO KEY UPDATE: it waits for those changes as FOR UPDATE would, but not for the
    foreign-key checks of their new rows (a consent record names the account), which
    would wait for it in turn while it waits for the site: a deadlock."""
    Account.objects.select_for_update(no_key=True).filter(pk=site.account_id).first()
    return attributes_unavailable(site_locked_for_change(site=site))


def _save_questions(widget: Widget, questions: list[QuestionSpec]) -> None:
    """Each spec that names one of the widget's questions edits that question, whatever
    its place now, so answers stay with the question they answer when another is removed,
    added or moved; the widget's questions no spec names are deleted, and specs naming no
    question (or another widget's) are new questions. Every statement names the site."""
    of_widget = Question.objects.filter(site_id=widget.site_id, widget_id=widget.pk)
    existing = {q.pk: q for q in of_widget}
    saved = []
    for spec in questions:
        question = existing.pop(spec.question_id, None) or Question(
            site_id=widget.site_id, widget=widget
        )
        question.kind, question.text = spec.kind, spec.text.strip()
        question.choices, question.required = list(spec.choices), spec.required
        saved.append(question)
    if existing:
        removed = {
            **(widget.removed_questions or {}),
            **{str(pk): question.text for pk, question in existing.items()},
        }
        _widget_update(widget, removed_questions=removed)
        of_widget.filter(pk__in=list(existing)).delete()
    # Positions are unique per widget and two kept questions may swap places: park the
    # kept ones beyond the last place first.
    kept = [q for q in saved if q.pk is not None]
    if kept:
        parked = [When(pk=q.pk, then=Value(MAX_QUESTIONS + n)) for n, q in enumerate(kept)]
        of_widget.filter(pk__in=[q.pk for q in kept]).update(position=Case(*parked))
    for position, question in enumerate(saved):
        question.position = position
        if question.pk is None:
            question.save()
        else:
            of_widget.filter(pk=question.pk).update(
                kind=question.kind,
                text=question.text,
                choices=question.choices,
                required=question.required,
                position=position,
            )


def _widget_update(widget: Widget, **fields) -> None:
    """Store these fields of a saved widget, and the time of the change, on the instance
    too. The statement names the site, so that a database distributed by site sends it
    to that site's shard alone (docs/scaling.md), as `save()` would not."""
    fields["updated_at"] = timezone.now()
    Widget.objects.filter(site_id=widget.site_id, pk=widget.pk).update(**fields)
    for name, value in fields.items():
        setattr(widget, name, value)


@transaction.atomic
def widget_save(
    *,
    site: Site,
    widget: Widget | None = None,
    kind: str,
    name: str,
    targeting: dict,
    questions: list[QuestionSpec],
    url_contains: str = "",
    thank_you_message: str = "",
    language: str = DEFAULT_LANGUAGE,
    user: User | None = None,
) -> Widget:
    """Create or update a widget. An active widget whose new targeting needs User
    Attributes the site cannot use now is refused; a disabled one stays disabled.

    Judged on the widget's status as stored, read under its row's lock (taken after the
    account's and the site's, as `widget_activate` takes them): a widget switched on
    since the caller read it is refused as an active one."""
    rule = parse_rule(targeting)  # raises RuleError
    _check_questions(kind, questions)
    if language not in dict(LANGUAGES):
        raise ApplicationError("invalid_language", "Choose one of the languages offered.")
    if widget is not None:
        reason = _attributes_unavailable_locked(site) if rule.uses_attributes else ""
        status = (
            Widget.objects.select_for_update(no_key=True)
            .filter(site_id=site.pk, pk=widget.pk)
            .values_list("status", flat=True)
            .first()
        )
        if status is None:
            raise ApplicationError("unknown_widget", "This widget was deleted.", status_code=404)
        widget.status = status
        if reason and status == Widget.Status.ACTIVE:
            raise ApplicationError("attributes_unavailable", reason)
    fields = {
        "name": name.strip(),
        "targeting": rule.as_json(),
        "url_contains": url_contains.strip(),
        "thank_you_message": thank_you_in(language, thank_you_message),
        "language": language,
    }
    if widget is None:
        widget = Widget.objects.create(site=site, kind=kind, created_by=user, **fields)
    else:
        if widget.status == Widget.Status.DISABLED:
            # The reason the page gives follows the targeting now saved.
            blocked = attributes_unavailable(site) if rule.uses_attributes else ""
            fields["disabled_reason"] = blocked or REASON_NO_LONGER
        _widget_update(widget, **fields)
    _save_questions(widget, questions)
    live_widgets_forget(site_id=site.pk)
    return widget


def widget_create_once(
    *,
    site: Site,
    form_id: str,
    kind: str,
    name: str,
    targeting: dict,
    questions: list[QuestionSpec],
    url_contains: str = "",
    thank_you_message: str = "",
    language: str = DEFAULT_LANGUAGE,
    user: User,
) -> Once[Widget]:
    """A new widget (`widget_save`), once per copy of the builder sent with the same
    content; an earlier sending's widget is named by its id."""
    fields = {
        "kind": kind,
        "name": name,
        "targeting": targeting,
        "questions": questions,
        "url_contains": url_contains,
        "thank_you_message": thank_you_message,
        "language": language,
    }
    return make_once(
        scope=f"widget:{site.pk}:{user.pk}",
        form_id=form_id,
        content=fields,
        make=lambda: widget_save(site=site, user=user, **fields),
        remember=lambda widget: str(widget.pk),
    )


@transaction.atomic
def widget_activate(*, widget: Widget) -> Widget:
    """Switch a widget on. One targeting on attributes needs User Attributes enabled and a
    plan that includes them: that is the only way back from "disabled by Cohort".

    Judged on the widget as stored, read under its row's lock: an edit saved since the
    caller read it (attribute conditions added) is what goes live. The row is locked after
    the account's and the site's, in the order a switch-off and a plan change take them
    (they hold those, then switch the widgets off), so none of them deadlocks with it."""
    reason = _attributes_unavailable_locked(widget.site)
    locked = (
        Widget.objects.select_for_update(no_key=True)
        .filter(site_id=widget.site_id, pk=widget.pk)
        .first()
    )
    if locked is None:
        raise ApplicationError("unknown_widget", "This widget was deleted.", status_code=404)
    if locked.kind == Widget.Kind.POLL and not locked.questions.exists():
        raise ApplicationError("questions_required", "A poll needs at least one question.")
    if reason and parse_rule(locked.targeting).uses_attributes:
        remedy = _attributes_remedy(widget.site, reason)
        raise ApplicationError(
            "attributes_unavailable", f"{reason} Remove the attribute conditions, {remedy}."
        )
    _widget_update(locked, status=Widget.Status.ACTIVE, disabled_reason="")
    # The caller's copy shows what is stored now.
    for field in locked._meta.concrete_fields:
        setattr(widget, field.attname, getattr(locked, field.attname))
    live_widgets_forget(site_id=widget.site_id)
    return widget


def widget_pause(*, widget: Widget) -> Widget:
    if widget.status != Widget.Status.ACTIVE:
        raise ApplicationError("not_active", "Only an active widget can be paused.")
    _widget_update(widget, status=Widget.Status.PAUSED)
    live_widgets_forget(site_id=widget.site_id)
    return widget


@transaction.atomic
def widget_delete(*, widget: Widget, by: User | None = None) -> None:
    """Delete a widget with its questions and responses; recorded in the account's trail
    with how many responses went."""
    site_id = widget.site_id
    # Locked first: an answer being stored holds the row until it commits, and is then
    # counted and deleted with the others; one sent after waits, and finds no widget.
    Widget.objects.select_for_update().filter(site_id=site_id, pk=widget.pk).first()
    # Table by table, each statement naming the site (docs/scaling.md): Django's cascade
    # would find the questions and responses by the widget's id alone.
    mine = "WHERE site_id = %s AND widget_id = %s"
    responses = execute(f"DELETE FROM {table(Response)} {mine}", [site_id, widget.pk])
    execute(f"DELETE FROM {table(Question)} {mine}", [site_id, widget.pk])
    execute(f"DELETE FROM {table(Widget)} WHERE site_id = %s AND id = %s", [site_id, widget.pk])
    live_widgets_forget(site_id=site_id)
    account_event_record(
        account=widget.site.account,
        actor=by,
        action=AccountEvent.Action.WIDGET_DELETED,
        subject=f"“{widget.name}” on {widget.site.name}: {responses} "
        f"response{'' if responses == 1 else 's'}",
    )


def widgets_disable_for_attributes(*, site: Site, reason: str) -> int:
    """Switch off every running widget of the site whose targeting uses attributes."""
    switched = widgets_running_on_attributes(Widget.objects.filter(site=site))
    if switched:
        changed = {"status": Widget.Status.DISABLED, "disabled_reason": reason}
        Widget.objects.filter(site_id=site.pk, pk__in=[w.pk for w in switched]).update(
            **changed, updated_at=timezone.now()
        )
    live_widgets_forget(site_id=site.pk)
    return len(switched)


# --- responses -----------------------------------------------------------------------------


def _clean_answer(question: Question, raw) -> object:
    number = question.position + 1
    if question.kind == Question.Kind.TEXT and isinstance(raw, str):
        raw = raw.strip()  # blanks alone are no answer
    if raw in (None, "", []):
        if question.required:
            raise ApplicationError("answer_required", f"Question {number} needs an answer.")
        return None
    if question.kind == Question.Kind.SINGLE:
        if raw not in question.choices:
            raise ApplicationError("invalid_answer", f"Question {number}: not one of the choices.")
        return raw
    if question.kind == Question.Kind.MULTIPLE:
        if not isinstance(raw, list) or not all(
            isinstance(c, str) and c in question.choices for c in raw
        ):
            raise ApplicationError("invalid_answer", f"Question {number}: not among the choices.")
        return [c for c in question.choices if c in raw]
    if question.kind == Question.Kind.RATING:
        if isinstance(raw, bool) or raw not in (1, 2, 3, 4, 5):
            raise ApplicationError("invalid_answer", f"Question {number}: a rating from 1 to 5.")
        return int(raw)
    if not isinstance(raw, str) or len(raw) > MAX_TEXT_ANSWER:
        raise ApplicationError(
            "invalid_answer", f"Question {number}: text of at most {MAX_TEXT_ANSWER} characters."
        )
    return raw


@dataclass(frozen=True)
class ResponseInput:
    answers: dict
    emotion: int | None = None
    comment: str = ""
    email: str = ""
    consent_to_connect: bool = False
    # The page it was given on: a string, or None for none (anything else is refused).
    page_url: object = ""
    # The sender's id for the answer; a retry with the same id is not stored twice.
    answer_id: str | None = None


@dataclass(frozen=True)
class Submitted:
    response: Response
    # True when the answer was stored before under the same answer_id: nothing new was.
    duplicate: bool = False


def _clean_response(widget: Widget, data: ResponseInput) -> dict:
    fields: dict = {"answers": {}, "emotion": None, "comment": ""}
    if widget.kind == Widget.Kind.POLL:
        if not isinstance(data.answers, dict):
            raise ApplicationError("invalid_answer", "answers must map question ids to answers.")
        for question in widget.questions.all():
            answer = _clean_answer(question, data.answers.get(str(question.pk)))
            if answer is not None:
                fields["answers"][str(question.pk)] = answer
    else:
        if isinstance(data.emotion, bool) or data.emotion not in (1, 2, 3, 4, 5):
            raise ApplicationError("invalid_emotion", "emotion must be 1 (hate) to 5 (love).")
        if not isinstance(data.comment, str) or len(data.comment) > MAX_TEXT_ANSWER:
            raise ApplicationError(
                "invalid_comment", f"comment is text of at most {MAX_TEXT_ANSWER} characters."
            )
        fields["emotion"], fields["comment"] = data.emotion, data.comment.strip()
    if not isinstance(data.email or "", str):
        raise ApplicationError("invalid_email", "That is not an email address.")
    email = (data.email or "").strip().lower()
    if email:
        if len(email) > MAX_EMAIL_LENGTH or not EMAIL_RE.fullmatch(email):
            raise ApplicationError("invalid_email", "That is not an email address.")
        if data.consent_to_connect is not True:
            raise ApplicationError(
                "consent_required",
                "An email is kept only with the consent to connect the feedback to it.",
            )
    fields["email"] = email
    fields["consent_to_connect"] = bool(email) and data.consent_to_connect is True
    fields["page_url"] = _clean_page_url(data.page_url)
    return fields


def _clean_page_url(value: object) -> str:
    """The page an answer was given on, cut to what is kept. Only a string is an address:
    Python's text of a list or an object would be stored, and matched against the
    widget's page condition."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApplicationError("invalid_url", "url must be the address of the page, as a string.")
    return value[:2000]


def _answered_before(
    *, site: Site, widget_id: int, visitor_id: str, answer_id: str
) -> Response | None:
    """The response stored before under `answer_id`, or None. The same id on an answer
    to another widget, or from another visitor, is refused rather than taken for it."""
    earlier = (
        Response.objects.select_related("widget", "visitor")
        .filter(site=site, answer_id=answer_id)
        .exclude(answer_id="")  # lets a generic plan use the partial unique index
        .first()
    )
    if earlier is not None and (
        earlier.widget_id != widget_id or earlier.visitor.visitor_id != visitor_id
    ):
        raise ApplicationError(
            "answer_id_conflict",
            "This answer_id was sent with another answer; send a new one.",
            status_code=409,
        )
    return earlier


def _repeat_of_stored(
    *, site: Site, widget_id: int, visitor_id: str, data: ResponseInput
) -> Submitted | None:
    """The answer stored before under the call's answer_id, as a duplicate, or None. An
    answer that differs from it (the page it was given on aside) is refused: its id was
    used for another answer, which would otherwise be dropped without a word."""
    earlier = data.answer_id and _answered_before(
        site=site, widget_id=widget_id, visitor_id=visitor_id, answer_id=data.answer_id
    )
    if not earlier:
        return None
    if not _same_answer(earlier, data):
        raise ApplicationError(
            "answer_id_conflict",
            "This answer_id was sent with another answer; send a new one.",
            status_code=409,
        )
    return Submitted(response=earlier, duplicate=True)


def _same_answer(stored: Response, data: ResponseInput) -> bool:
    """Whether a call says what the stored response says (the page it was given on aside).
    Read from the call itself, not against the poll's questions, which the owner may have
    edited since: a retry of a stored answer stays a retry. An answer the call adds is
    another answer, unless it is blank or names no question of the widget: those are not
    stored, so the stored response says all they say."""
    sent = data.answers if isinstance(data.answers, dict) else {}
    kept = stored.answers if isinstance(stored.answers, dict) else {}
    email = data.email.strip().lower() if isinstance(data.email, str) else ""
    comment = data.comment.strip() if isinstance(data.comment, str) else data.comment
    added = {key for key, value in sent.items() if key not in kept and not _blank(value)}
    return (
        all(_answer_form(sent.get(key)) == _answer_form(value) for key, value in kept.items())
        and not (added and added & _question_keys(stored))
        and (stored.emotion, stored.comment) == (data.emotion, comment or "")
        and (stored.email, stored.consent_to_connect)
        == (email, bool(email) and data.consent_to_connect is True)
    )


def _blank(value: object) -> bool:
    """Whether an answer is no answer, as `_clean_answer` takes it."""
    return _answer_form(value) in (None, "", [])


def _question_keys(response: Response) -> set[str]:
    """The keys of the questions the response's widget has now."""
    questions = Question.objects.filter(site_id=response.site_id, widget_id=response.widget_id)
    return {str(pk) for pk in questions.values_list("pk", flat=True)}


def _answer_form(value: object) -> object:
    """An answer as stored: text trimmed, choices in any order."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return sorted(map(str, value))
    return value


def response_submit(
    *,
    site: Site,
    widget_id: int,
    visitor_id: str,
    data: ResponseInput,
    now: datetime | None = None,
) -> Submitted:
    """Store a visitor's answer against the visitor and its profile, so that it follows
    identity stitching and is removed with the person.

    An answer sent again with the `answer_id` of one stored before (a retry whose first
    answer was lost on the way back) gets that response, marked as a duplicate, even if
    the widget has closed since; two sent at once with one id store one."""
    now = now or timezone.now()
    _clean_page_url(data.page_url)  # refused on a retry too, before anything is read
    repeat = _repeat_of_stored(site=site, widget_id=widget_id, visitor_id=visitor_id, data=data)
    if repeat is not None:
        return repeat
    widget = (
        Widget.objects.select_related("site__account")
        .prefetch_related("questions")
        .filter(site=site, pk=widget_id)
        .first()
    )
    if widget is None:
        raise ApplicationError(
            "unknown_widget", "No widget of this site has this id.", status_code=404
        )
    if widget.status != Widget.Status.ACTIVE:
        raise ApplicationError("widget_inactive", "This widget is not running.", status_code=409)
    fields = _clean_response(widget, data)
    if not page_url_contains(fields["page_url"], widget.url_contains):
        raise ApplicationError(
            "not_targeted", "This widget is not shown on this page.", status_code=403
        )
    try:
        with transaction.atomic():
            return Submitted(
                response=_response_store(
                    site=site,
                    widget=widget,
                    visitor_id=visitor_id,
                    fields=fields,
                    answer_id=data.answer_id,
                    now=now,
                )
            )
    except (IntegrityError, ApplicationError) as error:
        # A request with the same answer_id that ran at the same time stored it first:
        # this one found the id taken, or (waiting on the visitor's row) the poll answered.
        if isinstance(error, ApplicationError) and error.code != "already_answered":
            raise
        repeat = _repeat_of_stored(site=site, widget_id=widget_id, visitor_id=visitor_id, data=data)
        if repeat is None:
            raise
        return repeat


def _widget_status_held(*, site: Site, widget_id: int) -> str | None:
    """The widget's status now (None: it is gone), its row held until the transaction
    ends: a pause or a deletion of the widget, which lock its row, waits for the answer
    being stored, and an answer that waited for one reads what it left. Call inside a
    transaction.

    FOR SHARE rather than FOR NO KEY UPDATE: answers to one widget do not wait for each
    other. SQLite's writers take turns anyway."""
    lock = " FOR SHARE" if connection.vendor == "postgresql" else ""
    row = fetch_one(
        f"SELECT status FROM {table(Widget)} WHERE site_id = %s AND id = %s{lock}",
        [site.pk, widget_id],
    )
    return row[0] if row else None


def _response_store(
    *,
    site: Site,
    widget: Widget,
    visitor_id: str,
    fields: dict,
    answer_id: str | None,
    now: datetime,
) -> Response:
    status = _widget_status_held(site=site, widget_id=widget.pk)
    if status is None:
        raise ApplicationError(
            "unknown_widget", "No widget of this site has this id.", status_code=404
        )
    if status != Widget.Status.ACTIVE:
        raise ApplicationError("widget_inactive", "This widget is not running.", status_code=409)
    visitor_pk, profile_id = visitor_profile_ensure(site=site, visitor_id=visitor_id, now=now)
    rule: Rule = parse_rule(widget.targeting)
    poll = widget.kind == Widget.Kind.POLL
    facts, answered = visitor_decision_facts(
        site=site,
        visitor_id=visitor_id,
        with_attributes=rule.uses_attributes,
        poll_ids=[widget.id] if poll else [],
    )
    if not evaluate(rule, facts, now):
        raise ApplicationError(
            "not_targeted", "This widget is not shown to this visitor.", status_code=403
        )
    # A person answers a poll once, on whichever of their devices.
    if widget.id in answered:
        raise ApplicationError(
            "already_answered", "This person already answered this poll.", status_code=409
        )
    return Response.objects.create(
        site=site,
        widget=widget,
        visitor_id=visitor_pk,
        profile_id=profile_id,
        created_at=now,
        answer_id=answer_id or "",
        **fields,
    )


__all__ = [
    "QuestionSpec",
    "ResponseInput",
    "RuleError",
    "Submitted",
    "response_submit",
    "widget_activate",
    "widget_pause",
    "widget_save",
    "widgets_disable_for_attributes",
]
