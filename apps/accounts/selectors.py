import hashlib

from django.db.models import QuerySet
from django.http import Http404

from apps.accounts.models import Account, ApiToken, Membership, User


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


def api_tokens_of(*, account: Account, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(account=account, user=user)


def api_token_get_for_user(*, account: Account, user: User, pk: int) -> ApiToken:
    token = ApiToken.objects.filter(account=account, user=user, pk=pk).first()
    if token is None:
        raise Http404("No such token.")
    return token


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_authenticate(*, raw: str) -> ApiToken | None:
    """The active token with this value whose holder is still a member of its account."""
    token = (
        ApiToken.objects.select_related("account", "user")
        .filter(token_hash=token_hash(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    if not Membership.objects.filter(account=token.account, user=token.user).exists():
        return None
    return token
