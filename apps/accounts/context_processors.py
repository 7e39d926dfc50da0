from django.conf import settings

from apps.accounts.selectors import memberships_of_user


def current_account(request):
    """The account in the URL and the user's other accounts, for the switcher."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "current_account": getattr(request, "account", None),
        "current_membership": getattr(request, "membership", None),
        "user_memberships": memberships_of_user(user=request.user),
    }


def support(request):
    """The support address the pages send customers to."""
    return {"support_email": settings.COHORT_SUPPORT_EMAIL}
