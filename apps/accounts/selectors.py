import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404

from apps.accounts.models import Account, AccountEvent, ApiToken, Membership, User
from apps.billing.models import PlanChange
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


def memberships_of_user(*, user: User) -> QuerySet[Membership]:
    return Membership.objects.select_related("account").filter(user=user).order_by("account__name")


def account_members(*, account: Account) -> QuerySet[Membership]:
    return Membership.objects.select_related("user").filter(account=account).order_by("user__email")


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
    site_ids = list(Site.objects.filter(account__in=accounts).values_list("pk", flat=True))
    return {
        **sites_row_counts(site_ids=site_ids),
        "memberships": Membership.objects.filter(account__in=accounts).count(),
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
        f"JOIN {table(Membership)} m ON m.account_id = t.account_id AND m.user_id = t.user_id "
        f"LEFT JOIN {table(Site)} s ON s.account_id = t.account_id AND s.key = %s "
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


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    kind: str
    what: str
    who: str
    detail: str


def account_audit_trail(*, account: Account, limit: int = 100) -> list[AuditEntry]:
    """Every recorded change of the account, newest first: plan changes, User Attributes
    confirmations, API tokens, Visitor Lookups and deletions. None of it holds personal
    data of visitors."""
    entries = [
        AuditEntry(
            at=c.created_at,
            kind="plan",
            what=f"Plan {c.summary}",
            who=c.who,
            detail=c.get_source_display(),
        )
        for c in PlanChange.objects.filter(account=account)[:limit]
    ]
    entries += [
        AuditEntry(
            at=r.created_at,
            kind="consent",
            what=f"{r.get_action_display()} on {r.site_name}",
            who=r.user_email,
            detail=f"DPA {r.dpa_version}" if r.dpa_version else "",
        )
        for r in ConsentRecord.objects.filter(account=account)[:limit]
    ]
    entries += [
        AuditEntry(
            at=e.created_at,
            kind="account" if e.action == AccountEvent.Action.RENAMED else "token",
            what=e.get_action_display(),
            who=e.actor_email,
            detail=e.subject,
        )
        for e in AccountEvent.objects.filter(account=account)[:limit]
    ]
    entries += [
        AuditEntry(
            at=p.created_at,
            kind="privacy",
            what=f"{p.get_action_display()} on {p.site_name}",
            who=p.requested_by_email,
            detail=(
                p.deleted_summary
                if p.action == "delete"
                else f"{p.profiles_found} profile{'' if p.profiles_found == 1 else 's'} found"
            )
            + f" ({p.get_channel_display()})",
        )
        for p in PrivacyAudit.objects.filter(account=account)[:limit]
    ]
    return sorted(entries, key=lambda e: e.at, reverse=True)[:limit]
