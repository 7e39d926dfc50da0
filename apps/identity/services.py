"""Identify calls, page-visit sessions and identity stitching.

Locking: every call first upserts (and so locks) its visitor row, then the one profile it
writes to, then (when stitching) the visitor's own anonymous profile, then attribute
values of that profile, then catalogue rows and rejection counts, each in one statement in
key order. Calls from one device are therefore serialised, calls for one user are
serialised on the profile row, no call locks the profile of a user it does not write to,
and since every call takes its locks in this order no two calls wait on each other in a
cycle.
"""

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from apps.billing.selectors import user_attributes_access
from apps.common.errors import ApplicationError, Forbidden
from apps.common.once import Once, make_once
from apps.common.sql import (
    db_datetime,
    execute,
    fetch_all_together,
    fetch_one,
    insert_instance,
    statements_pipelined,
    table,
)
from apps.feedback_targeting.models import Response
from apps.identity.models import PrivacyAudit, ProcessedMessage, Profile, Session, Visitor
from apps.identity.selectors import (
    PersonFound,
    email_responses,
    normalize_lookup_terms,
    person_lookup,
    privacy_terms_digest,
    profiles_matching,
)
from apps.sites.models import Site
from apps.user_attributes.models import AttributeValue
from apps.user_attributes.services import (
    MAX_REJECTION_KEY_LENGTH,
    attributes_merge,
    attributes_store,
    catalogue_forget_profiles,
    rejections_record,
)
from apps.user_attributes.validation import AttributeCheck, check_attributes, emails_masked

MAX_URL_LENGTH = 2000
# pg_advisory_xact_lock's first key for "a person of this site is being deleted" (the
# second is the site), beside user_attributes.services.NEW_KEYS_LOCK.
PEOPLE_DELETION_LOCK = 0x70706C64
# The start of the ids that sessions take when their device switches to another user: not
# one of the characters of a client's ids, so no page visit can reach those sessions again.
ENDED_SESSION_PREFIX = "~"


def identify_access_check(*, site: Site) -> None:
    """Refuse identify calls the site may not make, before anything is stored."""
    access = user_attributes_access(account=site.account)
    if not access.allowed:
        raise Forbidden(access.code, access.message)
    if not site.user_attributes_enabled:
        raise Forbidden(
            "user_attributes_disabled",
            "User Attributes are disabled for this site. An owner of the account can enable them "
            "on the User Attributes page in Cohort.",
        )


class _AlreadyApplied(Exception):
    """Raised inside a call's transaction to undo it: its message id was applied before."""


def _message_send(cursor, *, site: Site, message_id: str, response: dict, now: datetime) -> None:
    """Send the call's last statement, which keeps its message id with the answer it got;
    `_message_check` reads its row from the cursor (none for a message id seen before).

    Only the outcome is kept with the message id, and a keyed digest of what the call sent
    (`_call_digest`): no user id, no device id. A message id
    kept for longer than the retention window counts as new and its row is renewed, so a
    late retry is applied again whether or not the purge has run since."""
    field = ProcessedMessage._meta.get_field("response")
    t = table(ProcessedMessage)
    cutoff = now - timedelta(days=settings.COHORT_MESSAGE_RETENTION_DAYS)
    cursor.execute(
        f"INSERT INTO {t} (site_id, message_id, created_at, response) VALUES (%s, %s, %s, %s) "
        f"ON CONFLICT (site_id, message_id) DO UPDATE SET "
        f"created_at = excluded.created_at, response = excluded.response "
        f"WHERE {t}.created_at < %s RETURNING id",
        [
            site.id,
            message_id,
            db_datetime(now),
            field.get_db_prep_value(response, connection),
            db_datetime(cutoff),
        ],
    )


def _message_check(cursor) -> None:
    """A message id seen before (a retry, or the same call racing itself: the second
    insert waits for the first transaction and then finds its row) raises
    `_AlreadyApplied`, and the caller's transaction is rolled back."""
    if cursor.fetchone() is None:
        raise _AlreadyApplied


# What keys the digest of a call kept with its message id (settings.SECRET_KEY with this
# salt): it tells a retry from another call that reuses the id, and names no one.
MESSAGE_CALL_KEY_SALT = "cohort.identity.message-call"


def _call_digest(call: dict, *, secret: str | None = None) -> str:
    text = json.dumps(call, sort_keys=True, separators=(",", ":"), default=str)
    return salted_hmac(MESSAGE_CALL_KEY_SALT, text, secret=secret, algorithm="sha256").hexdigest()


def _message_response(*, site: Site, message_id: str, answer_key: str, call: dict) -> dict:
    """The answer a message id got when it was applied, for a retry of that call. Identify
    and page visits share the site's message ids: one applied by the other kind of call
    (its answer lacks `answer_key`), or by a call of the same kind with other ids or
    values (its kept digest differs; tried under each secret key, as a retry may follow
    a key's rotation), is refused rather than answered with that call's answer: what
    this call sent would be lost without a word."""
    answer = ProcessedMessage.objects.get(site=site, message_id=message_id).response or {}
    if answer and answer_key not in answer:
        raise ApplicationError(
            "message_id_conflict",
            "This message_id was used by another kind of call: give every call an id of "
            "its own. Nothing was applied.",
            status_code=409,
        )
    kept = answer.pop("call", None)
    if kept is not None and not any(
        constant_time_compare(_call_digest(call, secret=secret), kept)
        for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    ):
        raise ApplicationError(
            "message_id_conflict",
            "This message_id was used by another call, with other ids or values: give every "
            "call an id of its own. Nothing was applied.",
            status_code=409,
        )
    return answer


def processed_messages_purge(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Forget message ids older than the retention window (a retry after it is applied
    again). Site by site, in batches that each commit on their own, so that identify
    calls never wait long behind the purge: the number of ids forgotten."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.COHORT_MESSAGE_RETENTION_DAYS)
    t = table(ProcessedMessage)
    purged = 0
    for site_id in Site.objects.order_by("pk").values_list("pk", flat=True):
        while True:
            deleted = execute(
                # The outer test again: a row an identify call renewed meanwhile stays.
                f"DELETE FROM {t} WHERE site_id = %s AND created_at < %s AND id IN "
                f"(SELECT id FROM {t} WHERE site_id = %s AND created_at < %s "
                "ORDER BY created_at LIMIT %s)",
                [site_id, db_datetime(cutoff), site_id, db_datetime(cutoff), batch_size],
            )
            purged += deleted
            if deleted < batch_size:
                break
    return purged


def _apply_once(
    *,
    site: Site,
    message_id: str | None,
    now: datetime,
    apply: Callable[[], dict],
    answer_key: str,
    call: dict,
    kept: Callable[[dict], dict] = lambda answer: answer,
) -> dict:
    """Run `apply` in a transaction that ends by keeping the message id with its answer.
    A retry of a call applied before gets that first answer, marked as a duplicate, and
    nothing it did is kept. `answer_key` is a key every answer of this kind of call has,
    `call` what the call sent (kept as a keyed digest: `_message_response`); `kept` gives
    the copy of the answer kept for retries.

    The writes whose results nothing reads travel with the next statement that is read
    (`statements_pipelined`): the call's last writes go out with its message id, and
    their answers come back when the block ends, in one round trip. So `apply` writes
    with SQL of its own, not with the ORM's writes, which read counts not known yet."""
    try:
        with transaction.atomic(), connection.cursor() as message:
            with statements_pipelined():
                outcome = apply()
                if message_id is not None:
                    _message_send(
                        message,
                        site=site,
                        message_id=message_id,
                        response={**kept(outcome), "call": _call_digest(call)},
                        now=now,
                    )
            if message_id is not None:
                _message_check(message)
    except _AlreadyApplied:
        answer = _message_response(
            site=site, message_id=message_id, answer_key=answer_key, call=call
        )
        outcome = {**answer, "duplicate": True}
    return outcome


def _visitor_upsert_sql(*, site: Site, visitor_id: str, now: datetime) -> tuple[str, list]:
    """The statement that creates or touches the visitor, locking its row; its row is
    (visitor pk, current profile pk)."""
    t = table(Visitor)
    return (
        f"INSERT INTO {t} (site_id, visitor_id, first_seen_at, last_seen_at) "
        f"VALUES (%s, %s, %s, %s) ON CONFLICT (site_id, visitor_id) "
        f"DO UPDATE SET last_seen_at = excluded.last_seen_at RETURNING id, profile_id",
        [site.id, visitor_id, db_datetime(now), db_datetime(now)],
    )


def _visitor_upsert(*, site: Site, visitor_id: str, now: datetime) -> tuple[int, int | None]:
    return fetch_one(*_visitor_upsert_sql(site=site, visitor_id=visitor_id, now=now))


def _profile_upsert_sql(*, site: Site, user_id: str, now: datetime) -> tuple[str, list]:
    """The statement that finds the profile of a user id, created if new, and locks its
    row until commit; its row is (profile pk,)."""
    t = table(Profile)
    return (
        f"INSERT INTO {t} (site_id, user_id, created_at, updated_at) "
        f"VALUES (%s, %s, %s, %s) ON CONFLICT (site_id, user_id) WHERE user_id IS NOT NULL "
        f"DO UPDATE SET updated_at = excluded.updated_at RETURNING id",
        [site.id, user_id, db_datetime(now), db_datetime(now)],
    )


def _profile_lock(*, site: Site, profile_id: int, now: datetime) -> int:
    """Touch a profile, locking its row until commit."""
    execute(
        f"UPDATE {table(Profile)} SET updated_at = %s WHERE site_id = %s AND id = %s",
        [db_datetime(now), site.id, profile_id],
    )
    return profile_id


def _profile_create_anonymous(*, site: Site, now: datetime) -> int:
    return fetch_one(
        f"INSERT INTO {table(Profile)} (site_id, user_id, created_at, updated_at) "
        f"VALUES (%s, NULL, %s, %s) RETURNING id",
        [site.id, db_datetime(now), db_datetime(now)],
    )[0]


def _profile_move_history(*, site: Site, source_id: int, target_id: int) -> None:
    """Everything recorded against `source` now belongs to `target`."""
    for model in (Session, Response, Visitor):
        execute(
            f"UPDATE {table(model)} SET profile_id = %s WHERE site_id = %s AND profile_id = %s",
            [target_id, site.id, source_id],
        )


def _profile_lock_if_anonymous(*, site: Site, profile_id: int) -> bool:
    """Whether a profile has no user id; if so its row stays locked until commit.

    Only a row that passes the filter is locked, so an identified profile is read without
    a lock: its user id never changes, and locking it would let two devices switching
    between the same two users in opposite directions wait on each other. An anonymous
    profile belongs to one device, whose visitor row the caller already holds."""
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    row = fetch_one(
        f"SELECT id FROM {table(Profile)} WHERE site_id = %s AND id = %s AND user_id IS NULL{lock}",
        [site.id, profile_id],
    )
    return row is not None


def _profile_drop_emptied(*, site: Site, profile_id: int) -> None:
    """Delete a profile whose rows were all moved or deleted already: one statement that
    names the site, instead of Django's cascade, which would look for related rows in
    every table again (across all sites). A row still pointing at the profile fails the
    commit (the foreign keys are checked then) instead of being deleted with it."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table(Profile)} WHERE site_id = %s AND id = %s",
            [site.id, profile_id],
        )


def _visitor_attach(
    *, site: Site, visitor_pk: int, current_profile_id: int | None, target_id: int
) -> dict[str, str]:
    """Point the visitor at `target`, stitching its anonymous history into it. Returns the
    attribute keys a merge found on both profiles (see `attributes_merge`).

    - A visitor that had no profile brings its sessions along.
    - A visitor whose profile was anonymous merges that profile into `target` (latest
      value wins per key) and the anonymous profile disappears.
    - A visitor already identified as another user switches to `target`; the other
      user's profile keeps all of its history (a user id never changes), its sessions on
      this device included: they take ids that no client can send (`ENDED_SESSION_PREFIX`
      and the row's id), so the device's next page visit opens a session of `target`
      instead of counting `target`'s pages in the other user's session.
    """
    if current_profile_id == target_id:
        return {}
    if current_profile_id is None:
        execute(
            f"UPDATE {table(Session)} SET profile_id = %s "
            f"WHERE site_id = %s AND visitor_id = %s AND profile_id IS NULL",
            [target_id, site.id, visitor_pk],
        )
    else:
        if _profile_lock_if_anonymous(site=site, profile_id=current_profile_id):
            source = current_profile_id
            merged_keys = attributes_merge(
                site=site, source_profile_id=source, target_profile_id=target_id
            )
            # The visitor row moves with the rest of the anonymous profile's history.
            _profile_move_history(site=site, source_id=source, target_id=target_id)
            _profile_drop_emptied(site=site, profile_id=source)
            return merged_keys
        execute(
            f"UPDATE {table(Session)} SET session_key = %s || CAST(id AS VARCHAR(20)) "
            f"WHERE site_id = %s AND visitor_id = %s AND profile_id = %s",
            [ENDED_SESSION_PREFIX, site.id, visitor_pk, current_profile_id],
        )
    execute(
        f"UPDATE {table(Visitor)} SET profile_id = %s WHERE site_id = %s AND id = %s",
        [target_id, site.id, visitor_pk],
    )
    return {}


def _anonymous_profile(
    *, site: Site, visitor_pk: int, current_profile_id: int | None, now: datetime
) -> int:
    if current_profile_id is not None:
        return _profile_lock(site=site, profile_id=current_profile_id, now=now)
    profile_id = _profile_create_anonymous(site=site, now=now)
    _visitor_attach(site=site, visitor_pk=visitor_pk, current_profile_id=None, target_id=profile_id)
    return profile_id


def visitor_profile_ensure(*, site: Site, visitor_id: str, now: datetime) -> tuple[int, int]:
    """The visitor and its profile, creating an anonymous profile if it has none yet
    (used when a visitor answers a widget). Call inside a transaction."""
    visitor_pk, current_profile_id = _visitor_upsert(site=site, visitor_id=visitor_id, now=now)
    profile_id = _anonymous_profile(
        site=site, visitor_pk=visitor_pk, current_profile_id=current_profile_id, now=now
    )
    return visitor_pk, profile_id


def visitor_identify(
    *,
    site: Site,
    visitor_id: str,
    user_id: str | None,
    attributes: dict,
    message_id: str | None = None,
    now: datetime | None = None,
) -> dict:
    """Apply one `hj('identify', user_id, attributes)` call from one visitor.

    Returns the answer given to the caller: the keys stored and a reason for each key
    rejected. A retried message id gets the first answer again and changes nothing.
    """
    identify_access_check(site=site)
    now = now or timezone.now()
    check = check_attributes(attributes, identified=user_id is not None)
    outcome = _apply_once(
        site=site,
        message_id=message_id,
        now=now,
        apply=lambda: _identify_apply(
            site=site, visitor_id=visitor_id, user_id=user_id, check=check, now=now
        ),
        answer_key="stored",
        call={"visitor_id": visitor_id, "user_id": user_id, "attributes": attributes},
        kept=_identify_answer_kept,
    )
    return {"visitor_id": visitor_id, "user_id": user_id, **outcome}


def _identify_answer_kept(answer: dict) -> dict:
    """The copy of an identify answer kept with its message id: rejected keys without the
    email addresses in them, as the settings page keeps them (the copy outlives a deletion
    of the person for the retention window). The caller's own answer names them as sent."""
    rejected = {
        emails_masked(key, keep=MAX_REJECTION_KEY_LENGTH): reason
        for key, reason in answer["rejected"].items()
    }
    return {**answer, "rejected": rejected}


def _identify_apply(
    *, site: Site, visitor_id: str, user_id: str | None, check: AttributeCheck, now: datetime
) -> dict:
    merged_keys: dict[str, str] = {}
    if user_id is not None:
        # The user's profile does not depend on the device: both rows in one round trip,
        # the visitor's locked first as everywhere else.
        (visitor_row,), (profile_row,) = fetch_all_together(
            [
                _visitor_upsert_sql(site=site, visitor_id=visitor_id, now=now),
                _profile_upsert_sql(site=site, user_id=user_id, now=now),
            ]
        )
        visitor_pk, current_profile_id = visitor_row
        profile_id = profile_row[0]
        merged_keys = _visitor_attach(
            site=site,
            visitor_pk=visitor_pk,
            current_profile_id=current_profile_id,
            target_id=profile_id,
        )
    else:
        visitor_pk, current_profile_id = _visitor_upsert(site=site, visitor_id=visitor_id, now=now)
        profile_id = (
            _anonymous_profile(
                site=site, visitor_pk=visitor_pk, current_profile_id=current_profile_id, now=now
            )
            if check.accepted or current_profile_id is not None
            else None
        )
    stored, limited = (
        attributes_store(
            site=site,
            profile_id=profile_id,
            values=check.accepted,
            identified=user_id is not None,
            now=now,
            merged_keys=merged_keys,
        )
        if profile_id is not None
        else ([], {})
    )
    rejected = {**check.rejected, **limited}
    rejections_record(site=site, rejected=rejected, now=now)
    return {"stored": stored, "rejected": rejected}


def _clean_url(value: object, *, name: str, required: bool) -> str:
    if value in (None, "") and not required:
        return ""
    if not isinstance(value, str) or not value or len(value) > MAX_URL_LENGTH:
        raise ApplicationError(
            f"invalid_{name}", f"{name} must be a string of at most {MAX_URL_LENGTH} characters."
        )
    return value


def session_record(
    *,
    site: Site,
    visitor_id: str,
    session_key: str,
    url: object,
    referrer: object = "",
    message_id: str | None = None,
    now: datetime | None = None,
) -> dict:
    """Record a page visit: the first one opens the session, later ones count pages.

    Sessions are recorded whether or not User Attributes are enabled: they are the
    visitor's history that identification later joins to a user.
    """
    url = _clean_url(url, name="url", required=True)
    referrer = _clean_url(referrer, name="referrer", required=False)
    now = now or timezone.now()
    outcome = _apply_once(
        site=site,
        message_id=message_id,
        now=now,
        apply=lambda: _session_apply(
            site=site,
            visitor_id=visitor_id,
            session_key=session_key,
            url=url,
            referrer=referrer,
            now=now,
        ),
        answer_key="page_count",
        call={
            "visitor_id": visitor_id,
            "session_id": session_key,
            "url": url,
            "referrer": referrer,
        },
    )
    return {"session_id": session_key, **outcome}


def _session_apply(
    *, site: Site, visitor_id: str, session_key: str, url: str, referrer: str, now: datetime
) -> dict:
    t = table(Session)
    visitor_pk, profile_id = _visitor_upsert(site=site, visitor_id=visitor_id, now=now)
    row = fetch_one(
        f"INSERT INTO {t} (site_id, visitor_id, profile_id, session_key, landing_url, "
        f"last_url, referrer, page_count, started_at, last_seen_at) "
        f"VALUES (%s, %s, %s, %s, %s, %s, %s, 1, %s, %s) "
        f"ON CONFLICT (site_id, session_key) DO UPDATE SET "
        f"last_url = excluded.last_url, page_count = {t}.page_count + 1, "
        f"last_seen_at = excluded.last_seen_at "
        f"WHERE {t}.visitor_id = excluded.visitor_id RETURNING page_count",
        [
            site.id,
            visitor_pk,
            profile_id,
            session_key,
            url,
            url,
            referrer,
            db_datetime(now),
            db_datetime(now),
        ],
    )
    if row is None:
        raise ApplicationError("invalid_session_id", "This session id belongs to another visitor.")
    return {"page_count": row[0]}


def _audit(
    *, site: Site, action: str, channel: str, requested_by, user_id, email, **fields
) -> PrivacyAudit:
    """Append the record of a lookup or deletion: one `INSERT`, as it runs on every lookup."""
    salt = secrets.token_hex(16)
    digest = privacy_terms_digest(salt=salt, user_id=user_id, email=email)
    values = {
        "account_id": site.account_id,
        "site_id": site.id,
        "site_name": site.name,
        "action": action,
        "channel": channel,
        "requested_by_id": requested_by.pk,
        "requested_by_email": requested_by.email,
        "searched_user_id": bool(user_id),
        "searched_email": bool(email),
        "terms_salt": salt,
        "terms_hash": digest,
        "profiles_found": 0,
        "deleted_counts": {},
        "created_at": timezone.now(),
    } | fields
    return insert_instance(PrivacyAudit, values)


def _require_terms(user_id: str | None, email: str | None) -> None:
    if not user_id and not email:
        raise ApplicationError(
            "lookup_terms_required", "Give a user id, an email address, or both."
        )
    if any("\x00" in term for term in (user_id, email) if term):
        raise ApplicationError("invalid_lookup_terms", "Search terms cannot contain NUL.")


def person_lookup_record(
    *, site: Site, user_id: str | None, email: str | None, requested_by, channel: str
) -> PersonFound:
    """Visitor Lookup: the matching people, with the lookup written to the audit trail."""
    terms = normalize_lookup_terms(user_id=user_id, email=email)
    _require_terms(*terms)
    # The terms as given: an email also matches a user id written as it was typed.
    found = person_lookup(site=site, user_id=user_id, email=email)
    user_id, email = terms
    _audit(
        site=site,
        action=PrivacyAudit.Action.LOOKUP,
        channel=channel,
        requested_by=requested_by,
        user_id=user_id,
        email=email,
        profiles_found=len(found.people),
    )
    return found


@dataclass(frozen=True)
class DeletionPreview:
    """Who a deletion with these terms would take: the user ids of the identified
    profiles found, how many anonymous ones, and how many answers given with the email on
    others' profiles."""

    user_ids: list[str]
    anonymous: int
    email_answers: int

    @property
    def profiles(self) -> int:
        return len(self.user_ids) + self.anonymous


def person_deletion_preview(
    *, site: Site, user_id: str | None, email: str | None, requested_by, channel: str
) -> DeletionPreview:
    """What `person_delete` would take, to confirm it by name: a lookup, recorded as one."""
    terms = normalize_lookup_terms(user_id=user_id, email=email)
    _require_terms(*terms)
    found = list(
        profiles_matching(site=site, user_id=user_id, email=email).values_list("pk", "user_id")
    )
    answers = email_responses(site=site, email=email, found=[pk for pk, _ in found]).count()
    user_ids = sorted(user for _, user in found if user is not None)
    _audit(
        site=site,
        action=PrivacyAudit.Action.LOOKUP,
        channel=channel,
        requested_by=requested_by,
        user_id=terms[0],
        email=terms[1],
        profiles_found=len(found),
    )
    return DeletionPreview(user_ids, len(found) - len(user_ids), answers)


@transaction.atomic
def person_delete(
    *, site: Site, user_id: str | None, email: str | None, requested_by, channel: str
) -> PrivacyAudit:
    """Delete everything about a person: profiles, attribute values, devices, sessions,
    responses, and the answers given with their email on someone else's profile.

    Locks in the identify order (visitors, then profiles), so a deletion racing an
    identify call waits for it instead of deadlocking; once this returns, a later identify
    call for the same user id starts a new, empty profile.
    """
    terms = normalize_lookup_terms(user_id=user_id, email=email)
    _require_terms(*terms)
    if connection.vendor == "postgresql":
        # Deletions of a site's people take turns: one that found a device joined to the
        # person while it waited deletes (so locks) that device late, out of the order
        # above, and a second deletion holding it already would deadlock with it.
        execute("SELECT pg_advisory_xact_lock(%s, %s)", [PEOPLE_DELETION_LOCK, site.id % 2**31])
    matching = profiles_matching(site=site, user_id=user_id, email=email)
    user_id, email = terms
    profile_ids = list(matching.values_list("pk", flat=True))
    # The person's devices: those that belong to them, and those their visits or answers
    # name that belong to no one now (a device identified as A, then as B, is detached
    # when B is deleted: A's deletion takes it, whichever of the two goes first).
    named = {
        visitor_id
        for model in (Session, Response)
        for visitor_id in model.objects.filter(site=site, profile_id__in=profile_ids)
        .values_list("visitor_id", flat=True)
        .distinct()
    }
    theirs = Q(profile_id__in=profile_ids) | Q(pk__in=named, profile__isnull=True)
    visitors = list(Visitor.objects.select_for_update().filter(theirs, site=site).order_by("pk"))
    list(Profile.objects.select_for_update().filter(site=site, pk__in=profile_ids).order_by("pk"))
    # With the profiles held, the devices as they are now: a call that joined a device to
    # one of them between the two reads has committed, and its device goes too.
    visitor_ids = {v.pk for v in visitors} | set(
        Visitor.objects.filter(site=site, profile_id__in=profile_ids).values_list("pk", flat=True)
    )

    values = AttributeValue.objects.filter(site=site, profile_id__in=profile_ids)
    # A profile holds a key once: the rows per key are the profiles that lose it (the
    # people may hold it with different types; any one of them names the key's row).
    per_key = values.values("key").annotate(profiles=Count("pk"), stored_type=Max("value_type"))
    removed = {row["key"]: (row["stored_type"], row["profiles"]) for row in per_key}
    # A device shared with someone else (identified as A, then as B) keeps the other
    # person's history, visits and answers alike; it is only detached from the deleted
    # person.
    shared = {
        visitor_id
        for model in (Session, Response)
        for visitor_id in model.objects.filter(site=site, visitor_id__in=visitor_ids)
        .exclude(profile_id__in=profile_ids)
        .exclude(profile__isnull=True)
        .values_list("visitor_id", flat=True)
    }
    own_visitors = sorted(visitor_ids - shared)
    sessions = Session.objects.filter(site=site).filter(
        Q(profile_id__in=profile_ids) | Q(visitor_id__in=own_visitors)
    )
    # With the answers given with the email on others' profiles: the person's, not theirs.
    given = email_responses(site=site, email=email, found=profile_ids).values("pk")
    responses = Response.objects.filter(site=site).filter(
        Q(profile_id__in=profile_ids) | Q(visitor_id__in=own_visitors) | Q(pk__in=given)
    )
    counts = {
        "profiles": len(profile_ids),
        "attribute_values": values.count(),
        "visitors": len(own_visitors),
        "sessions": sessions.count(),
        "responses": responses.count(),
    }
    responses.delete()
    sessions.delete()
    values.delete()
    Visitor.objects.filter(site=site, pk__in=shared).update(profile=None)
    Visitor.objects.filter(site=site, pk__in=own_visitors).delete()
    Profile.objects.filter(site=site, pk__in=profile_ids).delete()
    catalogue_forget_profiles(site=site, removed=removed, now=timezone.now())
    return _audit(
        site=site,
        action=PrivacyAudit.Action.DELETE,
        channel=channel,
        requested_by=requested_by,
        user_id=user_id,
        email=email,
        profiles_found=len(profile_ids),
        deleted_counts=counts,
    )


def person_delete_once(
    *,
    site: Site,
    user_id: str | None,
    email: str | None,
    requested_by,
    channel: str,
    form_id: str,
) -> Once[PrivacyAudit]:
    """`person_delete`, once per copy of the confirmation form: a copy sent again (a
    double click, a reload of the answer) deletes nothing more and records nothing; it
    is told what the first sending deleted. Another copy deletes again (the person may
    have come back since)."""
    return make_once(
        scope=f"person-delete:{site.pk}:{requested_by.pk}",
        form_id=form_id,
        content=(user_id, email),  # kept as a keyed digest only
        make=lambda: person_delete(
            site=site,
            user_id=user_id,
            email=email,
            requested_by=requested_by,
            channel=channel,
        ),
        remember=lambda audit: audit.deleted_summary,
    )
