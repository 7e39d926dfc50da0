from django.db import IntegrityError, transaction
from django.utils.text import slugify

from apps.accounts.models import Account, Membership, User
from apps.billing.models import PlanChange


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "account"
    slug, n = base, 1
    while Account.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def account_create(
    *,
    name: str,
    owner: User,
    tier: str = Account.Tier.BASIC,
    billing_version: int = Account.BillingVersion.V2,
) -> Account:
    """A new account with `owner` as its owner, and the opening entry of its plan history."""
    for _ in range(5):
        try:
            with transaction.atomic():
                account = Account.objects.create(
                    name=name, slug=_unique_slug(name), tier=tier, billing_version=billing_version
                )
            break
        except IntegrityError:  # a concurrent sign-up took the slug; pick the next one
            continue
    else:
        raise RuntimeError("Could not allocate an account slug.")
    Membership.objects.create(account=account, user=owner, role=Membership.Role.OWNER)
    PlanChange.objects.create(
        account=account,
        changed_by=owner,
        source=PlanChange.Source.SIGNUP,
        to_tier=tier,
        to_billing_version=billing_version,
    )
    return account


@transaction.atomic
def user_signup(
    *, email: str, password: str, account_name: str, name: str = ""
) -> tuple[User, Account]:
    """Create a user and their first account (Basic tier, billing V2), owned by them."""
    user = User.objects.create_user(email=email, password=password, name=name)
    return user, account_create(name=account_name, owner=user)
