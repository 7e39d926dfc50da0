"""The one way HTML views find their tenant.

The account comes from the URL (`/a/<account_slug>/...`) and is checked against the
user's memberships once; a non-member gets the same 404 as a missing account. Views then
read `request.account` and `request.membership` and pass the account to selectors, which
answer 404 for objects of other accounts.

Put `@account_view(...)` outermost (above `@require_GET` / `@require_POST`): the tenant
check then runs first, so a non-member gets the same 404 whatever the method, and an
anonymous visitor is sent to the login page.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from apps.accounts.models import Membership
from apps.accounts.selectors import membership_get

ROLE_RANK = {Membership.Role.MEMBER: 0, Membership.Role.ADMIN: 1, Membership.Role.OWNER: 2}
SESSION_ACCOUNT_KEY = "current_account_slug"


def account_view(min_role: str = Membership.Role.MEMBER) -> Callable:
    """Decorate a view taking `account_slug`: resolves membership, enforces the role."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, account_slug: str, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            membership = membership_get(user=request.user, account_slug=account_slug)
            if membership is None:
                raise Http404("No such account.")
            # Set before the role check so a 403 page still shows the account's menu.
            request.account = membership.account
            request.membership = membership
            if ROLE_RANK[membership.role] < ROLE_RANK[min_role]:
                raise PermissionDenied(
                    f"This needs the {Membership.Role(min_role).label.lower()} role or higher."
                )
            if request.session.get(SESSION_ACCOUNT_KEY) != account_slug:
                request.session[SESSION_ACCOUNT_KEY] = account_slug
            return view(request, *args, **kwargs)

        wrapped.min_role = min_role
        return wrapped

    return decorator


def role_at_least(membership: Membership, role: str) -> bool:
    return ROLE_RANK[membership.role] >= ROLE_RANK[role]
