import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.accounts.models import (
    ROLE_RANK,
    Account,
    AccountEvent,
    ApiToken,
    Invitation,
    Membership,
    User,
)
from apps.billing.models import PlanChange
from apps.common.errors import ApplicationError
from apps.common.sql import fetch_one, instances_from_row, select_columns, table
from apps.consent.models import ConsentRecord, SignedDPA
from apps.identity.models import PrivacyAudit
from apps.sites.models import Site
from apps.sites.selectors import site_key_possible, sites_row_counts


def membership_get(*, user: User, account_slug: str) -> Membership | None:
    """The user's membership of the account named in the URL, or None if not a member."""
    if not user.is_authenticated:
        return None
    return (
        Membership.objects.select_related("account")
        .filter(user=user, account__slug=account_slug)
        .first()
    )


def is_member(*, user: User, account_id: int) -> bool:
    return (
        user.is_authenticated
        and Membership.objects.filter(user=user, account_id=account_id).exists()
    )


EMAIL_UNCONFIRMED = (
    "Confirm your address first: open the link Cohort mailed to {email}, or send it again "
    "from the note at the top of the page."
)


def email_unconfirmed_refusal(user: User) -> ApplicationError | None:
    """Why a user may not do what needs a confirmed address (None when they may)."""
    if user.email_confirmed_at is not None:
        return None
    return ApplicationError("email_unconfirmed", EMAIL_UNCONFIRMED.format(email=user.email))


def memberships_of_user(*, user: User) -> QuerySet[Membership]:
    return Membership.objects.select_related("account").filter(user=user).order_by("account__name")


def account_members(*, account: Account) -> QuerySet[Membership]:
    return Membership.objects.select_related("user").filter(account=account).order_by("user__email")


def login_exists(*, email: str) -> bool:
    """Whether a Cohort login uses this address (in any case)."""
    return User.objects.filter(email__iexact=email).exists()


def membership_get_in_account(*, account: Account, pk: int) -> Membership:
    """A membership of this account; another account's is "not found"."""
    membership = (
        Membership.objects.select_related("user", "account").filter(account=account, pk=pk).first()
    )
    if membership is None:
        raise Http404("No such member.")
    return membership


def is_sole_owner(*, membership: Membership) -> bool:
    """Whether the account has no owner but this member (who may then neither leave nor
    give up the role)."""
    return (
        membership.role == Membership.Role.OWNER
        and not Membership.objects.filter(
            account_id=membership.account_id, role=Membership.Role.OWNER
        )
        .exclude(pk=membership.pk)
        .exists()
    )


def invitations_open(*, account: Account) -> QuerySet[Invitation]:
    """The account's invitations that can still be accepted, newest first."""
    return Invitation.objects.filter(
        account=account, accepted_at=None, revoked_at=None, expires_at__gt=timezone.now()
    ).select_related("invited_by")


def invitation_get_in_account(*, account: Account, pk: int) -> Invitation:
    invitation = Invitation.objects.select_related("account").filter(account=account, pk=pk).first()
    if invitation is None:
        raise Http404("No such invitation.")
    return invitation


def invitation_for_link(*, raw: str) -> Invitation | None:
    """The invitation a link's secret belongs to, in whatever state, or None."""
    if not raw or len(raw) > 100:
        return None
    return (
        Invitation.objects.select_related("account", "invited_by")
        .filter(token_hash=token_hash(raw))
        .first()
    )


def invitation_usable(*, invitation: Invitation, now: datetime) -> bool:
    """Whether the invitation's link still brings its address in: it is open (not used,
    withdrawn or expired), and whoever sent it may still invite with its role, as an
    active member of the account whose role is at least the invitation's. A login staff
    deactivated, or a member removed or demoted, brings no one in with rights they no
    longer have (their invitations are also withdrawn when that happens)."""
    if not invitation.is_open(now) or invitation.invited_by_id is None:
        return False
    role = (
        Membership.objects.filter(
            account_id=invitation.account_id,
            user_id=invitation.invited_by_id,
            user__is_active=True,
        )
        .values_list("role", flat=True)
        .first()
    )
    return role is not None and ROLE_RANK[invitation.role] <= ROLE_RANK[role]


def accounts_owned_only_by(*, users: Iterable[User]) -> list[tuple[User, Account]]:
    """The accounts whose every owner is among `users`, each with one of those owners:
    deleting them all would leave the account with nobody to manage its plan and members."""
    user_ids = [u.pk for u in users]
    owned = Membership.objects.filter(user_id__in=user_ids, role=Membership.Role.OWNER)
    others = Membership.objects.filter(
        account_id=OuterRef("account_id"), role=Membership.Role.OWNER
    ).exclude(user_id__in=user_ids)
    sole = owned.filter(~Exists(others)).select_related("user", "account").order_by("account__name")
    return [(m.user, m.account) for m in sole]


def accounts_left_without_owner(
    *, changed: Iterable[int], owned_after: Iterable[int]
) -> list[Account]:
    """The accounts that had an owner among the memberships `changed` (ids) and would have
    none once those memberships are edited or deleted; `owned_after` holds the account id
    of every owner among the edited and new memberships."""
    changed = list(changed)
    kept = set(owned_after)
    had_owner = set(
        Membership.objects.filter(pk__in=changed, role=Membership.Role.OWNER).values_list(
            "account_id", flat=True
        )
    )
    at_risk = had_owner - kept
    owned_elsewhere = set(
        Membership.objects.filter(account_id__in=at_risk, role=Membership.Role.OWNER)
        .exclude(pk__in=changed)
        .values_list("account_id", flat=True)
    )
    return list(Account.objects.filter(pk__in=at_risk - owned_elsewhere).order_by("name"))


def account_row_counts(*, accounts: list[Account]) -> dict[str, int]:
    """How many rows of each kind the accounts hold (their sites' data included), counted
    without loading them."""
    # The accounts' deleted sites still being erased go with them too.
    site_ids = list(Site.with_deleted.filter(account__in=accounts).values_list("pk", flat=True))
    return {
        **sites_row_counts(site_ids=site_ids),
        "memberships": Membership.objects.filter(account__in=accounts).count(),
        "invitations": Invitation.objects.filter(account__in=accounts).count(),
        "API tokens": ApiToken.objects.filter(account__in=accounts).count(),
        "plan changes": PlanChange.objects.filter(account__in=accounts).count(),
        # The account's trails go with it (README: "Deleting an account").
        "account events": AccountEvent.objects.filter(account__in=accounts).count(),
        "consent records": ConsentRecord.objects.filter(account__in=accounts).count(),
        "signed DPAs": SignedDPA.objects.filter(account__in=accounts).count(),
        "privacy audit records": PrivacyAudit.objects.filter(account__in=accounts).count(),
    }


def api_tokens_of(*, account: Account, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(account=account, user=user)


def api_token_get_for_user(*, account: Account, user: User, pk: int) -> ApiToken:
    token = ApiToken.objects.filter(account=account, user=user, pk=pk).first()
    if token is None:
        raise Http404("No such token.")
    return token


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class TokenAccess:
    """What a valid API token acts with: the token, its holder's membership of the token's
    account (with the account and the user), and the account's site asked for, if any."""

    token: ApiToken
    membership: Membership
    site: Site | None


def api_token_authenticate(*, raw: str, site_key: str | None = None) -> TokenAccess | None:
    """The active token with this value and its holder's membership of the token's
    account; None when either is gone. With a site key, also the token's account's site
    with that key (None when the account has no such site: another account's site is not
    found).

    One hand-written statement, as every private API call starts here. Joining five
    tables costs PostgreSQL more to plan than two smaller statements, but the statement
    is prepared once a connection has run it a few times (config/settings/base.py) and
    is then no longer planned on every call: one round trip instead of two."""
    row = fetch_one(
        f"SELECT {select_columns(ApiToken, 't')}, {select_columns(User, 'u')}, "
        f"{select_columns(Account, 'a')}, {select_columns(Membership, 'm')}, "
        f"{select_columns(Site, 's')} FROM {table(ApiToken)} t "
        f"JOIN {table(User)} u ON u.id = t.user_id "
        f"JOIN {table(Account)} a ON a.id = t.account_id "
        # A token made before the membership it acts with (its holder was removed, then
        # made a member again) stays dead, also one made while the removal ran.
        f"JOIN {table(Membership)} m ON m.account_id = t.account_id AND m.user_id = t.user_id "
        "AND m.created_at <= t.created_at "
        f"LEFT JOIN {table(Site)} s ON s.account_id = t.account_id AND s.key = %s "
        "AND s.deleted_at IS NULL "
        "WHERE t.token_hash = %s AND t.revoked_at IS NULL AND u.is_active = %s",
        # A key no site can have finds none (and a NUL byte would fail the statement).
        [
            site_key if site_key is None or site_key_possible(site_key) else "",
            token_hash(raw),
            True,
        ],
    )
    if row is None:
        return None
    token, user, account, membership, site = instances_from_row(
        (ApiToken, User, Account, Membership, Site), row
    )
    token.account = membership.account = account
    token.user = membership.user = user
    if site is not None:
        site.account = account
    return TokenAccess(token=token, membership=membership, site=site)


AUDIT_PAGE_SIZE = 100
# The records the trail reads; entries of the same instant are listed in this order.
AUDIT_SOURCES = ("plan", "consent", "event", "privacy")


@dataclass(frozen=True)
class AuditCursor:
    """Where a page of the trail ends: the next page starts after this entry."""

    at: datetime
    source: str
    pk: int

    def __str__(self) -> str:
        return f"{self.at.isoformat()}~{self.source}~{self.pk}"

    @classmethod
    def parse(cls, text: str) -> "AuditCursor":
        """The cursor of a link to older entries; ValueError for any other text."""
        at, source, pk = text.split("~")
        when = parse_datetime(at)
        if when is None or when.tzinfo is None or source not in AUDIT_SOURCES:
            raise ValueError(text)
        if not pk.isdigit() or len(pk) > 18:
            raise ValueError(text)
        try:
            when = when.astimezone(UTC)  # an instant the database can hold
        except OverflowError:
            raise ValueError(text) from None
        return cls(at=when, source=source, pk=int(pk))


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    kind: str
    what: str
    who: str
    detail: str
    source: str
    pk: int

    def order(self) -> tuple:
        """Sorted descending by this: newest first, then in the order of AUDIT_SOURCES."""
        return (self.at, -AUDIT_SOURCES.index(self.source), self.pk)


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    total: int
    older: AuditCursor | None  # None on the page with the oldest entry


def _audit_rows(queryset: QuerySet, source: str, after: AuditCursor | None, size: int) -> list:
    """A source's newest `size` rows after the cursor, in the trail's order."""
    if after is not None:
        same_instant = Q(created_at=after.at)
        if source == after.source:
            same_instant &= Q(pk__lt=after.pk)
        elif AUDIT_SOURCES.index(source) < AUDIT_SOURCES.index(after.source):
            same_instant = Q(pk__in=[])
        queryset = queryset.filter(Q(created_at__lt=after.at) | same_instant)
    return list(queryset.order_by("-created_at", "-pk")[:size])


def account_audit_trail(
    *,
    account: Account,
    sources: tuple[str, ...] = AUDIT_SOURCES,
    after: AuditCursor | None = None,
    size: int = AUDIT_PAGE_SIZE,
) -> AuditPage:
    """A page of every recorded change of the account, newest first: plan changes, User
    Attributes confirmations, API tokens and renames, Visitor Lookups and deletions
    (`sources` chooses among them). None of it holds personal data of visitors."""
    querysets = {
        "plan": PlanChange.objects.filter(account=account),
        "consent": ConsentRecord.objects.filter(account=account),
        "event": AccountEvent.objects.filter(account=account),
        "privacy": PrivacyAudit.objects.filter(account=account),
    }
    entries = [
        _audit_entry(source, row)
        for source in sources
        for row in _audit_rows(querysets[source], source, after, size + 1)
    ]
    entries.sort(key=AuditEntry.order, reverse=True)
    more = len(entries) > size
    entries = entries[:size]
    last = entries[-1] if more else None
    return AuditPage(
        entries=entries,
        total=sum(querysets[source].count() for source in sources),
        older=AuditCursor(at=last.at, source=last.source, pk=last.pk) if last else None,
    )


# The area of the trail each account event belongs to; the others are about API tokens.
_EVENT_AREAS = {
    AccountEvent.Action.RENAMED: "account",
    AccountEvent.Action.MEMBER_INVITED: "members",
    AccountEvent.Action.INVITATION_REVOKED: "members",
    AccountEvent.Action.MEMBER_JOINED: "members",
    AccountEvent.Action.ROLE_CHANGED: "members",
    AccountEvent.Action.MEMBER_REMOVED: "members",
    AccountEvent.Action.SITE_CREATED: "sites",
    AccountEvent.Action.SITE_CHANGED: "sites",
    AccountEvent.Action.SITE_DELETED: "sites",
    AccountEvent.Action.WIDGET_DELETED: "data",
    AccountEvent.Action.KEY_DELETED: "data",
}


def _audit_entry(source: str, row) -> AuditEntry:
    if source == "plan":
        kind, what, who, detail = "plan", f"Plan {row.summary}", row.who, row.get_source_display()
    elif source == "consent":
        kind, who = "consent", row.user_email
        what = f"{row.get_action_display()} on {row.site_name}"
        detail = f"DPA {row.dpa_version}" if row.dpa_version else ""
    elif source == "event":
        kind = _EVENT_AREAS.get(row.action, "token")
        what, who, detail = row.get_action_display(), row.actor_email, row.subject
    else:
        kind, what = "privacy", f"{row.get_action_display()} on {row.site_name}"
        who = row.requested_by_email
        found = f"{row.profiles_found} profile{'' if row.profiles_found == 1 else 's'} found"
        result = row.deleted_summary if row.action == "delete" else found
        detail = f"{result} ({row.get_channel_display()})"
    return AuditEntry(
        at=row.created_at, kind=kind, what=what, who=who, detail=detail, source=source, pk=row.pk
    )
