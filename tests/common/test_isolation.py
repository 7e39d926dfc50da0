"""The tenant isolation matrix.

Every URL pattern with an `account_slug` parameter is found by walking the URL resolver, so
a new page under `/a/<account_slug>/` is covered the moment it is routed. For each one:

- an owner of account A who names account B in the URL gets 404, for GET and POST, sees
  nothing of B, and B's data does not change;
- an owner of A who names A but an object of B (e.g. B's site key) gets 404 likewise;
- an anonymous visitor is sent to the login page;
- each role may GET / POST exactly what `ROUTES` says, and a refused POST changes nothing.

A route with a parameter this module cannot fill, or missing from `ROUTES`, fails the
suite: add the parameter to `OBJECT_PARAMS` and the route to `ROUTES`.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RegexPattern, RoutePattern

from apps.accounts.models import Account, Membership
from apps.billing.models import PlanChange
from apps.sites.models import Site
from tests.factories import MembershipFactory

MEMBER, ADMIN, OWNER = Membership.Role.MEMBER, Membership.Role.ADMIN, Membership.Role.OWNER
RANK = {MEMBER: 0, ADMIN: 1, OWNER: 2}
TENANT_PARAM = "account_slug"


@dataclass(frozen=True)
class Tenant:
    account: Account
    site: Site


# How to fill each object parameter from a tenant's data.
OBJECT_PARAMS: dict[str, Callable[[Tenant], str]] = {
    "site_key": lambda tenant: tenant.site.key,
}


@dataclass(frozen=True)
class Policy:
    # The least role that may GET / POST; None: the method is not allowed (405).
    get: str | None
    post: str | None
    # A POST body that would change the tenant's data if the request were honoured.
    payload: Callable[[Tenant], dict] = lambda tenant: {}


ROUTES: dict[str, Policy] = {
    "billing:plan": Policy(get=MEMBER, post=None),
    "billing:change": Policy(get=None, post=OWNER, payload=lambda t: {"tier": "scale"}),
    "sites:list": Policy(get=MEMBER, post=None),
    "sites:create": Policy(
        get=ADMIN,
        post=ADMIN,
        payload=lambda t: {"name": "Planted", "allowed_origins": "https://planted.example"},
    ),
    "sites:detail": Policy(
        get=MEMBER,
        post=ADMIN,
        payload=lambda t: {"name": "Hijacked", "allowed_origins": "https://evil.example"},
    ),
    "sites:delete": Policy(get=ADMIN, post=ADMIN, payload=lambda t: {"confirm_name": t.site.name}),
}


@dataclass(frozen=True)
class Route:
    name: str
    route: str
    params: tuple[str, ...]

    def __str__(self) -> str:
        return self.name

    def url(self, slug_of: Tenant, objects_of: Tenant) -> str:
        kwargs = {TENANT_PARAM: slug_of.account.slug}
        kwargs.update({p: OBJECT_PARAMS[p](objects_of) for p in self.object_params})
        return reverse(self.name, kwargs=kwargs)

    @property
    def object_params(self) -> tuple[str, ...]:
        return tuple(p for p in self.params if p != TENANT_PARAM)

    @property
    def policy(self) -> Policy:
        if self.name not in ROUTES:
            pytest.fail(f"{self.name} ({self.route}) is not in ROUTES: say who may GET and POST")
        return ROUTES[self.name]


def _pattern_params(pattern) -> list[str]:
    if isinstance(pattern, RoutePattern):
        return list(pattern.converters)
    if isinstance(pattern, RegexPattern):
        return list(pattern.regex.groupindex)
    return []  # e.g. a language prefix


def _walk(patterns, prefix="", namespace="", params=()) -> Iterator[tuple[str, str, tuple]]:
    for entry in patterns:
        here = (*params, *_pattern_params(entry.pattern))
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, route, inner, here)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else ""
            yield name, route, here


def tenant_routes() -> list[Route]:
    return [
        Route(name, route, params)
        for name, route, params in _walk(get_resolver().url_patterns)
        if TENANT_PARAM in params
    ]


TENANT_ROUTES = tenant_routes()
OBJECT_ROUTES = [r for r in TENANT_ROUTES if r.object_params]


def test_every_tenant_route_is_known_to_the_matrix():
    # the walk found the pages this matrix was written for (a broken walk finds nothing)
    assert {r.name for r in TENANT_ROUTES} >= set(ROUTES)
    unnamed = [r.route for r in TENANT_ROUTES if not r.name]
    unknown_params = {
        r.name: p for r in TENANT_ROUTES for p in r.object_params if p not in OBJECT_PARAMS
    }
    without_policy = [r.name for r in TENANT_ROUTES if r.name not in ROUTES]
    assert unnamed == [], "name these routes so the matrix can reverse them"
    assert unknown_params == {}, "teach OBJECT_PARAMS how to fill these parameters"
    assert without_policy == [], "add these routes to ROUTES with who may GET and POST"


# --- the two tenants ----------------------------------------------------------------


@pytest.fixture
def tenant_a(account, site) -> Tenant:
    return Tenant(account, site)


@pytest.fixture
def tenant_b(other_account, other_site, other_owner) -> Tenant:
    return Tenant(other_account, other_site)


def snapshot(account: Account) -> dict:
    """Everything a request under /a/<slug>/ could change about an account."""
    account = Account.objects.get(pk=account.pk)
    return {
        "account": (account.name, account.slug, account.tier, account.billing_version),
        "sites": list(
            Site.objects.filter(account=account)
            .order_by("key")
            .values_list("key", "name", "allowed_origins", "user_attributes_enabled")
        ),
        "members": list(
            Membership.objects.filter(account=account)
            .order_by("user_id")
            .values_list("user_id", "role")
        ),
        "plan_changes": PlanChange.objects.filter(account=account).count(),
    }


def _request(client, method: str, url: str, route: Route, target: Tenant):
    if method == "GET":
        return client.get(url)
    return client.post(url, route.policy.payload(target))


def _assert_nothing_of(tenant: Tenant, response) -> None:
    html = response.content.decode()
    for secret in (tenant.site.name, tenant.site.key, tenant.account.name):
        assert secret not in html, f"{secret!r} leaked"


def _require_params_known(route: Route) -> None:
    unknown = [p for p in route.object_params if p not in OBJECT_PARAMS]
    if unknown:
        pytest.fail(f"{route.name} ({route.route}): no filler for {unknown} in OBJECT_PARAMS")


# --- another account in the URL -----------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("route", TENANT_ROUTES, ids=str)
def test_another_accounts_slug_is_404(login, owner, tenant_a, tenant_b, route, method):
    # given an owner of A, and account B with a site
    _require_params_known(route)
    client = login(owner)
    before = snapshot(tenant_b.account), snapshot(tenant_a.account)

    # when they name B (and B's objects) in the URL
    response = _request(client, method, route.url(tenant_b, tenant_b), route, tenant_b)

    # then it is "not found", shows nothing of B, and nothing changed anywhere
    assert response.status_code == 404
    _assert_nothing_of(tenant_b, response)
    assert (snapshot(tenant_b.account), snapshot(tenant_a.account)) == before


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("route", OBJECT_ROUTES, ids=str)
def test_another_accounts_object_under_ones_own_slug_is_404(
    login, owner, tenant_a, tenant_b, route, method
):
    # given an owner of A who knows the key of B's site
    _require_params_known(route)
    client = login(owner)
    before = snapshot(tenant_b.account), snapshot(tenant_a.account)

    # when they put B's object under A's slug
    response = _request(client, method, route.url(tenant_a, tenant_b), route, tenant_b)

    # then it is "not found" exactly like a key that does not exist
    assert response.status_code == 404
    _assert_nothing_of(tenant_b, response)
    assert (snapshot(tenant_b.account), snapshot(tenant_a.account)) == before


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("route", OBJECT_ROUTES, ids=str)
def test_an_object_is_found_only_under_its_own_accounts_slug(
    login, owner, tenant_a, tenant_b, route, method
):
    # given a user who owns both A and B
    MembershipFactory(account=tenant_b.account, user=owner, role=OWNER)
    client = login(owner)
    before = snapshot(tenant_b.account), snapshot(tenant_a.account)

    # when they put A's object under B's slug
    response = _request(client, method, route.url(tenant_b, tenant_a), route, tenant_a)

    # then the object is not found in B
    assert response.status_code == 404
    assert (snapshot(tenant_b.account), snapshot(tenant_a.account)) == before


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("route", TENANT_ROUTES, ids=str)
def test_a_missing_account_is_404_like_a_foreign_one(login, owner, tenant_a, route, method):
    _require_params_known(route)
    kwargs = {TENANT_PARAM: "no-such-account"}
    kwargs.update({p: OBJECT_PARAMS[p](tenant_a) for p in route.object_params})

    response = getattr(login(owner), method.lower())(reverse(route.name, kwargs=kwargs))

    assert response.status_code == 404


# --- anonymous ----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("route", TENANT_ROUTES, ids=str)
def test_anonymous_visitors_are_sent_to_login(client, tenant_a, tenant_b, route, method):
    _require_params_known(route)
    url = route.url(tenant_a, tenant_a)
    before = snapshot(tenant_a.account)

    response = _request(client, method, url, route, tenant_a)

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == reverse("accounts:login")
    assert parse_qs(location.query) == {"next": [url]}
    assert snapshot(tenant_a.account) == before


# --- roles --------------------------------------------------------------------------


ROLE_FIXTURES = {OWNER: "owner", ADMIN: "admin_user", MEMBER: "member"}


def _expected(policy: Policy, method: str, role: str, allowed_status: int) -> int:
    """The role is checked before the method: a role below every method's least role gets
    403 whatever the method; a role that passes gets 405 for a method the route lacks."""
    gate = min((r for r in (policy.get, policy.post) if r), key=RANK.__getitem__)
    least = policy.get if method == "GET" else policy.post
    if RANK[role] < RANK[gate]:
        return 403
    if least is None:
        return 405
    return allowed_status if RANK[role] >= RANK[least] else 403


@pytest.mark.parametrize("role", list(ROLE_FIXTURES))
@pytest.mark.parametrize("route", TENANT_ROUTES, ids=str)
def test_who_may_get(request, login, tenant_a, tenant_b, route, role):
    _require_params_known(route)
    client = login(request.getfixturevalue(ROLE_FIXTURES[role]))

    response = client.get(route.url(tenant_a, tenant_a))

    assert response.status_code == _expected(route.policy, "GET", role, 200)
    _assert_nothing_of(tenant_b, response)


@pytest.mark.parametrize("role", list(ROLE_FIXTURES))
@pytest.mark.parametrize("route", TENANT_ROUTES, ids=str)
def test_who_may_post(request, login, tenant_a, tenant_b, route, role):
    # given a user of A with this role
    _require_params_known(route)
    client = login(request.getfixturevalue(ROLE_FIXTURES[role]))
    before_a, before_b = snapshot(tenant_a.account), snapshot(tenant_b.account)

    # when they send a POST that would change A
    response = client.post(route.url(tenant_a, tenant_a), route.policy.payload(tenant_a))

    # then an allowed role changed A (and only A); a refused one changed nothing
    expected = _expected(route.policy, "POST", role, 302)
    assert response.status_code == expected
    if expected == 302:
        assert snapshot(tenant_a.account) != before_a
    else:
        assert snapshot(tenant_a.account) == before_a
    assert snapshot(tenant_b.account) == before_b
