"""Reads of people and their history: Visitor Lookup."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Prefetch, QuerySet, prefetch_related_objects
from django.db.models.expressions import RawSQL
from django.utils.crypto import constant_time_compare, salted_hmac

from apps.common.sql import (
    fetch_all,
    fetch_all_together,
    instance_from_row,
    instances_from_row,
    select_columns,
    table,
)
from apps.feedback_targeting.models import Question, Response, Widget
from apps.identity.models import PrivacyAudit, Profile, Session, Visitor
from apps.sites.models import Site
from apps.user_attributes.models import AttributeValue, ValueType
from apps.user_attributes.validation import EMAIL_KEY, email_spellings

# A person's devices, sessions and responses listed by Visitor Lookup, each kind at most
# this many (the newest): anyone holding a site's public key can add sessions to a known
# user, and an unbounded list would outgrow the page and the API. The totals are counted,
# and a deletion removes every row.
LOOKUP_ROWS_PER_KIND = 500


# What keys a privacy audit record's digest of its search terms (settings.SECRET_KEY with
# this salt): only the server can test terms against a record. A plain hash with the
# record's own salt could be tested offline by anyone holding the record, and short user
# ids (or emails from a list) found in seconds.
AUDIT_TERMS_KEY_SALT = "cohort.identity.privacy-audit-terms"


def privacy_terms_digest(
    *, salt: str, user_id: str | None, email: str | None, secret: str | None = None
) -> str:
    """The digest a privacy audit record keeps of the terms it was asked for (normalised),
    under SECRET_KEY (or `secret`)."""
    terms = f"{salt}\x1f{user_id or ''}\x1f{email or ''}"
    return salted_hmac(AUDIT_TERMS_KEY_SALT, terms, secret=secret, algorithm="sha256").hexdigest()


def privacy_audit_matches(*, audit: PrivacyAudit, user_id: str | None, email: str | None) -> bool:
    """Whether a lookup or deletion was asked for these terms: the way to show, for a
    given person, that their request was answered, without the record naming them. Tried
    under SECRET_KEY and each of SECRET_KEY_FALLBACKS, so records made before a key's
    rotation still match while the old key is kept there."""
    if not audit.terms_hash:
        return False
    user_id, email = normalize_lookup_terms(user_id=user_id, email=email)
    return any(
        constant_time_compare(
            privacy_terms_digest(
                salt=audit.terms_salt, user_id=user_id, email=email, secret=secret
            ),
            audit.terms_hash,
        )
        for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    )


def normalize_lookup_terms(
    *, user_id: str | None, email: str | None
) -> tuple[str | None, str | None]:
    user_id = (user_id or "").strip() or None
    email = (email or "").strip().lower() or None
    return user_id, email


def _matching_ids_sql(
    *, site: Site, user_id: str | None, email: str | None
) -> tuple[str, list] | None:
    """`SELECT` of the ids of the site's profiles with this user id or this email (terms
    as given; None without any).

    The email (normalised: lower case) matches in each spelling of its domain
    (`email_spellings`), and also a user id that is the address in any letter case (sites
    that use their customers' emails as user ids store them as their own database does),
    read through the index on the lowered user id; and as typed, for a database whose
    lower() folds ASCII letters only (the C locale: `checks.case_folding_check`).

    One `a UNION b UNION c` rather than an OR of subqueries: PostgreSQL answers an OR of
    subqueries by scanning every profile of the site.
    """
    typed = (email or "").strip() or None
    user_id, email = normalize_lookup_terms(user_id=user_id, email=email)
    if not user_id and not email:
        return None
    emails = email_spellings(email) if email else []
    exact = list(dict.fromkeys(term for term in (user_id, typed) if term is not None))
    sources: list[tuple[str, list]] = []
    if exact:
        sources.append(
            (
                f"SELECT id FROM {table(Profile)} "
                f"WHERE site_id = %s AND user_id IN ({_marks(exact)})",
                [site.id, *exact],
            )
        )
    if emails:
        sources.append(
            (
                # Read through the index `profile_site_user_lowered`.
                f"SELECT id FROM {table(Profile)} "
                f"WHERE site_id = %s AND LOWER(user_id) IN ({_marks(emails)})",
                [site.id, *emails],
            )
        )
        sources.append(
            (
                f"SELECT profile_id FROM {table(AttributeValue)} "
                "WHERE site_id = %s AND key = %s AND value_type = %s "
                f"AND string_value IN ({_marks(emails)})",
                [site.id, EMAIL_KEY, ValueType.STRING, *emails],
            )
        )
        # An email given with an answer finds the whole profile of an anonymous visitor
        # (what they gave is all there is to know them by), but not an identified user's:
        # someone else may have answered on their device (`email_responses`).
        sources.append(
            (
                f"SELECT r.profile_id FROM {table(Response)} r "
                f"JOIN {table(Profile)} p ON p.id = r.profile_id AND p.site_id = r.site_id "
                f"WHERE r.site_id = %s AND r.email IN ({_marks(emails)}) "
                "AND r.consent_to_connect = %s AND p.user_id IS NULL",
                [site.id, *emails, True],
            )
        )
    sql = " UNION ".join(part for part, _ in sources)
    return sql, [param for _, params in sources for param in params]


def email_responses(*, site: Site, email: str | None, found: Iterable[int]) -> QuerySet[Response]:
    """The answers given with this email and the consent to connect it on the profiles of
    identified users that the search did not find (`found`: the profiles it did): the
    person behind the email gave them, on a device someone else is identified on. They
    are the person's, without the rest of that profile."""
    _, email = normalize_lookup_terms(user_id=None, email=email)
    if not email:
        return Response.objects.none()
    return (
        Response.objects.filter(
            site=site, email__in=email_spellings(email), consent_to_connect=True
        )
        .exclude(profile_id__in=list(found))
        .order_by("-created_at", "-pk")
    )


def _marks(terms: list) -> str:
    return ", ".join(["%s"] * len(terms))


def profiles_matching(*, site: Site, user_id: str | None, email: str | None) -> QuerySet[Profile]:
    """Profiles of the site with this user id or this email (either matches).

    The email matches the `email` attribute, a user id that is the address, and an
    anonymous profile whose visitor gave it with a feedback consent (on an identified
    user's profile, such answers alone are the person's: `email_responses`). Given both,
    as the privacy rules ask, every profile of either is found.
    """
    matching = _matching_ids_sql(site=site, user_id=user_id, email=email)
    if matching is None:
        return Profile.objects.none()
    sql, params = matching
    # Our own statement text; the terms are parameters.
    return Profile.objects.filter(site=site, pk__in=RawSQL(sql, params))  # noqa: S611


@dataclass(frozen=True)
class PersonFound:
    """What Visitor Lookup found: the matching profiles, and the answers given with the
    email on the profiles of others (`email_responses`), the newest of them and how many."""

    people: list[Profile]
    email_responses: list[Response]
    email_responses_total: int


def person_lookup(*, site: Site, user_id: str | None, email: str | None) -> PersonFound:
    """Every matching profile (by user id, then id) with its rows as lists:
    `attribute_list` (by key), `visitor_list` (first seen first), `session_list` with each
    session's visitor and `response_list` with each response's widget (newest first), and
    a poll widget's questions. Devices, sessions and responses: each profile's first
    LOOKUP_ROWS_PER_KIND of each kind, and its totals in `visitor_total`, `session_total`
    and `response_total`.

    Hand-written statements, one per kind of row (profiles come with their attribute
    values): this is the hot path of Visitor Lookup, and building the equivalent
    querysets costs several times what running them does. Two round trips: the profiles
    (with the answers given with the email on others' profiles: `email_responses`),
    then the three reads that hang off them together.
    """
    matching = _matching_ids_sql(site=site, user_id=user_id, email=email)
    if matching is None:
        return PersonFound([], [], 0)
    ids_sql, ids_params = matching
    by_id: dict[int, Profile] = {}
    widgets: dict[int, Widget] = {}
    # The profiles with their attribute values: one row per value (or one for a profile
    # without any); with them, the answers given with the email on others' profiles.
    split = len(Profile._meta.concrete_fields)
    statements = [
        (
            f"SELECT {select_columns(Profile, 'p')}, {select_columns(AttributeValue, 'a')} "
            f"FROM {table(Profile)} p LEFT JOIN {table(AttributeValue)} a "
            "ON a.site_id = p.site_id AND a.profile_id = p.id "
            f"WHERE p.site_id = %s AND p.id IN ({ids_sql}) ORDER BY p.user_id, p.id, a.key",
            [site.id, *ids_params],
        )
    ]
    _, normalized = normalize_lookup_terms(user_id=None, email=email)
    if normalized:
        # Which answers were given with the email, and on which profiles (read through
        # the index on the email; usually none, or only the found people's own).
        emails = email_spellings(normalized)
        statements.append(
            (
                f"SELECT id, profile_id FROM {table(Response)} "
                f"WHERE site_id = %s AND email IN ({_marks(emails)}) AND consent_to_connect = %s "
                "ORDER BY created_at DESC, id DESC",
                [site.id, *emails, True],
            )
        )
    profile_rows, *given_rows = fetch_all_together(statements)
    for row in profile_rows:
        profile = by_id.get(row[0])  # the profile's id
        if profile is None:
            profile = by_id[row[0]] = instance_from_row(Profile, row[:split])
            profile.attribute_list, profile.visitor_list = [], []
            profile.session_list, profile.response_list = [], []
            profile.visitor_total = profile.session_total = profile.response_total = 0
        if row[split] is not None:  # the attribute value's id
            profile.attribute_list.append(instance_from_row(AttributeValue, row[split:]))
    # Those on profiles not found are someone else's: read them, the newest first.
    elsewhere = [
        pk for pk, profile_id in (given_rows[0] if given_rows else []) if profile_id not in by_id
    ]
    answers = _responses_read(site, elsewhere[:LOOKUP_ROWS_PER_KIND], widgets)
    answers_total = len(elsewhere)
    if not by_id:
        _questions_read(site, widgets)
        return PersonFound([], answers, answers_total)
    among = f"IN ({', '.join(['%s'] * len(by_id))})"
    params = [site.id, *by_id]

    totals = " UNION ALL ".join(
        f"SELECT '{kind}', profile_id, COUNT(*) FROM {table(model)} "
        f"WHERE site_id = %s AND profile_id {among} GROUP BY profile_id"
        for kind, model in (("visitor", Visitor), ("session", Session), ("response", Response))
    )

    def first_of_each(model, order: str) -> str:
        """`WITH listed`: the ids of each profile's first LOOKUP_ROWS_PER_KIND rows."""
        return (
            f"WITH listed AS (SELECT id, ROW_NUMBER() OVER (PARTITION BY profile_id "
            f"ORDER BY {order}) AS place FROM {table(model)} "
            f"WHERE site_id = %s AND profile_id {among}) "
        )

    listed = [*params, LOOKUP_ROWS_PER_KIND, site.id]
    # The reads depend only on the profiles found: one round trip for all of them. A
    # session's device may since belong to someone else: join it, not the visitors read.
    visitor_rows, session_rows, response_rows, total_rows = fetch_all_together(
        [
            (
                first_of_each(Visitor, "first_seen_at, id")
                + f"SELECT {select_columns(Visitor, 'v')} FROM {table(Visitor)} v "
                "JOIN listed ON listed.id = v.id AND listed.place <= %s "
                "WHERE v.site_id = %s ORDER BY v.first_seen_at, v.id",
                listed,
            ),
            (
                first_of_each(Session, "started_at DESC, id DESC")
                + f"SELECT {select_columns(Session, 's')}, {select_columns(Visitor, 'v')} "
                f"FROM {table(Session)} s "
                "JOIN listed ON listed.id = s.id AND listed.place <= %s "
                f"JOIN {table(Visitor)} v ON v.id = s.visitor_id AND v.site_id = s.site_id "
                "WHERE s.site_id = %s ORDER BY s.started_at DESC, s.id DESC",
                listed,
            ),
            (
                first_of_each(Response, "created_at DESC, id DESC")
                + f"SELECT {select_columns(Response, 'r')}, {select_columns(Widget, 'w')} "
                f"FROM {table(Response)} r "
                "JOIN listed ON listed.id = r.id AND listed.place <= %s "
                f"JOIN {table(Widget)} w ON w.id = r.widget_id AND w.site_id = r.site_id "
                "WHERE r.site_id = %s ORDER BY r.created_at DESC, r.id DESC",
                listed,
            ),
            (totals, params * 3),
        ]
    )
    for kind, profile_id, total in total_rows:
        setattr(by_id[profile_id], f"{kind}_total", total)
    for row in visitor_rows:
        visitor = instance_from_row(Visitor, row)
        by_id[visitor.profile_id].visitor_list.append(visitor)
    for row in session_rows:
        session, session.visitor = instances_from_row((Session, Visitor), row)
        by_id[session.profile_id].session_list.append(session)
    for row in response_rows:
        response = _response_with_widget(row, widgets)
        by_id[response.profile_id].response_list.append(response)
    _questions_read(site, widgets)
    return PersonFound(list(by_id.values()), answers, answers_total)


def _responses_read(site: Site, ids: list[int], widgets: dict[int, Widget]) -> list[Response]:
    """The responses `ids` with their widgets, in that order (a round trip, when any)."""
    if not ids:
        return []
    rows = fetch_all(
        f"SELECT {select_columns(Response, 'r')}, {select_columns(Widget, 'w')} "
        f"FROM {table(Response)} r "
        f"JOIN {table(Widget)} w ON w.id = r.widget_id AND w.site_id = r.site_id "
        f"WHERE r.site_id = %s AND r.id IN ({_marks(ids)}) "
        "ORDER BY r.created_at DESC, r.id DESC",
        [site.id, *ids],
    )
    return [_response_with_widget(row, widgets) for row in rows]


def _response_with_widget(row: tuple, widgets: dict[int, Widget]) -> Response:
    """A response read with its widget's columns; one instance per widget."""
    response, widget = instances_from_row((Response, Widget), row)
    response.widget = widgets.setdefault(widget.pk, widget)
    return response


def _questions_read(site: Site, widgets: dict[int, Widget]) -> None:
    """The questions of the polls among `widgets`, read onto them (their answers name
    them)."""
    polls = [widget for widget in widgets.values() if widget.kind != Widget.Kind.FEEDBACK]
    if polls:
        prefetch_related_objects(
            polls, Prefetch("questions", queryset=Question.objects.filter(site=site))
        )


def privacy_audit_trail(*, account, limit: int = 50) -> QuerySet[PrivacyAudit]:
    return PrivacyAudit.objects.filter(account=account)[:limit]
