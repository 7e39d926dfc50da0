"""The one way HTML views find their tenant.

The account comes from the URL (`/a/<account_slug>/...`) and is checked against the
user's memberships once; a non-member gets the same 404 as a missing account. Views then
read `request.account` and `request.membership` and pass the account to selectors, which
answer 404 for objects of other accounts.

`TenantMiddleware` does the check for every URL with an `account_slug`, before any view
code or decorator runs: a non-member gets 404 whatever the method (never a 405 that
confirms the route exists), and an anonymous visitor is sent to the login page, even for
a view that forgot `@account_view`. `@account_view(min_role=...)` then enforces the role.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.utils.cache import add_never_cache_headers
from django_htmx.http import HttpResponseClientRedirect

from apps.accounts.models import ROLE_RANK, Membership
from apps.accounts.selectors import membership_get
from apps.common.pages import page_came_from

SESSION_ACCOUNT_KEY = "current_account_slug"
TENANT_URL_KWARG = "account_slug"


def _tenant_resolve(request: HttpRequest, account_slug: str) -> HttpResponse | None:
    """Set `request.account` / `request.membership`, or answer for a stranger."""
    membership = getattr(request, "membership", None)
    if membership is not None and membership.account.slug == account_slug:
        return None
    if not request.user.is_authenticated:
        return _to_login(request)
    membership = membership_get(user=request.user, account_slug=account_slug)
    if membership is None:
        raise Http404("No such account.")
    request.account = membership.account
    request.membership = membership
    return None


# Added to the log-in page's address when a request made after the session ended is sent
# there (the log-in page shows why).
SESSION_ENDED_PARAM = "session=ended"


def _to_login(request: HttpRequest) -> HttpResponse:
    """The login page, coming back here afterwards. A request htmx made for a part of a
    page (the session ended while the page was open) takes the whole window there, and
    comes back to the page it was made from, not to the part. So does a form sent after
    the session ended: its address takes only forms, and coming back to it would open
    nothing (what was typed is lost either way; the page is there to send it again)."""
    htmx = getattr(request, "htmx", None)
    if htmx:
        login = _login_saying_why(htmx.current_url_abs_path or request.get_full_path())
        return HttpResponseClientRedirect(login["Location"])
    if request.method in ("GET", "HEAD"):
        return redirect_to_login(request.get_full_path())
    return _login_saying_why(page_came_from(request) or resolve_url("home"))


def _login_saying_why(next_url: str) -> HttpResponse:
    """The log-in page for something asked after the session ended: it says that what was
    asked was not done."""
    login = redirect_to_login(next_url)
    login["Location"] += f"&{SESSION_ENDED_PARAM}"
    return login


class TenantMiddleware:
    """Resolve the account named in the URL before the view and its decorators run."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        account_slug = view_kwargs.get(TENANT_URL_KWARG)
        if account_slug is None:
            return None
        return _tenant_resolve(request, account_slug)


def account_view(min_role: str = Membership.Role.MEMBER) -> Callable:
    """Decorate a view taking `account_slug`: resolves membership, enforces the role, and
    keeps the answer out of every cache."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, account_slug: str, *args, **kwargs) -> HttpResponse:
            answer = _tenant_resolve(request, account_slug)
            if answer is not None:
                return answer
            if ROLE_RANK[request.membership.role] < ROLE_RANK[min_role]:
                raise PermissionDenied(
                    f"This needs the {Membership.Role(min_role).label.lower()} role or higher."
                )
            if request.session.get(SESSION_ACCOUNT_KEY) != account_slug:
                request.session[SESSION_ACCOUNT_KEY] = account_slug
            response = view(request, *args, **kwargs)
            # An account's pages show its people and its secrets: no browser or proxy
            # keeps them (a shared computer's back button, a caching proxy).
            add_never_cache_headers(response)
            return response

        wrapped.min_role = min_role
        return wrapped

    return decorator


def role_at_least(membership: Membership, role: str) -> bool:
    return ROLE_RANK[membership.role] >= ROLE_RANK[role]
