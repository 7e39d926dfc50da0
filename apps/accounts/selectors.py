from django.db.models import QuerySet

from apps.accounts.models import Account, Membership, User


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
