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
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RegexPattern, RoutePattern
from django.utils import timezone

from apps.accounts.models import Account, ApiToken, Invitation, Membership, User
from apps.billing.models import PlanChange
from apps.consent.models import ConsentRecord
from apps.feedback_targeting.models import Question, Widget
from apps.identity.models import PrivacyAudit, Profile
from apps.sites.models import Site
from apps.user_attributes.models import AttributeKey, AttributeValue
from tests.factories import (
    ApiTokenFactory,
    AttributeKeyFactory,
    AttributeValueFactory,
    MembershipFactory,
    ProfileFactory,
    UserFactory,
)
from tests.feedback_targeting.factories import QuestionFactory, WidgetFactory

MEMBER, ADMIN, OWNER = Membership.Role.MEMBER, Membership.Role.ADMIN, Membership.Role.OWNER
RANK = {MEMBER: 0, ADMIN: 1, OWNER: 2}
TENANT_PARAM = "account_slug"


@dataclass(frozen=True)
class Tenant:
    """One account's data: a site with an identified person and a poll, and its owner's
    API token."""

    account: Account
    site: Site
    profile: Profile
    token: ApiToken
    widget: Widget
    attribute_key: str
    member: Membership  # a colleague of the owner, with the member role
    invitation: Invitation  # not accepted yet

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never appear in a page served for another account."""
        return (
            self.account.name,
            self.site.name,
            self.site.key,
            self.profile.user_id,
            self.token.name,
            self.widget.name,
            self.member.user.email,
            self.invitation.email,
        )


# How to fill each object parameter from a tenant's data.
OBJECT_PARAMS: dict[str, Callable[[Tenant], str | int]] = {
    "site_key": lambda tenant: tenant.site.key,
    "token_id": lambda tenant: tenant.token.pk,
    "widget_id": lambda tenant: tenant.widget.pk,
    "key": lambda tenant: tenant.attribute_key,
    "member_id": lambda tenant: tenant.member.pk,
    "invitation_id": lambda tenant: tenant.invitation.pk,
}


def _nothing(tenant: Tenant) -> dict:
    return {}


def _set_user_attributes(enabled: bool) -> Callable[[Tenant], None]:
    def prepare(tenant: Tenant) -> None:
        Site.objects.filter(pk=tenant.site.pk).update(user_attributes_enabled=enabled)

    return prepare


def _set_widget_status(status: str) -> Callable[[Tenant], None]:
    def prepare(tenant: Tenant) -> None:
        Widget.objects.filter(pk=tenant.widget.pk).update(status=status)

    return prepare


def _widget_form(tenant: Tenant) -> dict:
    """A builder POST that saves a poll (or changes the tenant's poll)."""
    return {
        "kind": "poll",
        "name": "Planted poll",
        "match": "all",
        "questions": ["q0"],
        "q0-kind": "text",
        "q0-text": "Planted?",
        "conditions": ["c0"],
        "c0-key": "@visitor",
        "c0-op": "anonymous",
    }


@dataclass(frozen=True)
class Policy:
    # The least role the view admits at all (its `@account_view(min_role=...)`).
    role: str
    # The least role that may GET / POST; None: the method is not allowed (405).
    get: str | None
    post: str | None
    # A POST body that would change the tenant's data if the request were honoured.
    payload: Callable[[Tenant], dict] = _nothing
    # Query parameters that make a GET do its real work (e.g. run a search).
    query: Callable[[Tenant], dict] = _nothing
    # Brings the tenant to a state where the POST would succeed (e.g. feature off → on).
    prepare: Callable[[Tenant], None] = field(default=lambda tenant: None)
    get_ok: int = 200
    post_ok: int = 302
    # Whether an honoured POST changes the tenant (not the builder's fragments, which
    # are POSTs only because the form they render may be too long for a URL).
    post_writes: bool = True
    # The answer to a role below `get` / `post` (404 where the object is personal to its
    # holder).
    get_denied: int = 403
    post_denied: int = 403


ROUTES: dict[str, Policy] = {
    # billing
    "billing:plan": Policy(role=MEMBER, get=MEMBER, post=None),
    "billing:change": Policy(role=OWNER, get=None, post=OWNER, payload=lambda t: {"tier": "scale"}),
    # sites
    "sites:list": Policy(role=MEMBER, get=MEMBER, post=None),
    "sites:create": Policy(
        role=ADMIN,
        get=ADMIN,
        post=ADMIN,
        payload=lambda t: {"name": "Planted", "allowed_origins": "https://planted.example"},
    ),
    "sites:detail": Policy(
        role=MEMBER,
        get=MEMBER,
        post=ADMIN,
        payload=lambda t: {"name": "Hijacked", "allowed_origins": "https://evil.example"},
    ),
    "sites:status": Policy(role=MEMBER, get=MEMBER, post=None),
    "sites:delete": Policy(
        role=ADMIN, get=ADMIN, post=ADMIN, payload=lambda t: {"confirm_name": t.site.name}
    ),
    # account page and personal API tokens
    "account:detail": Policy(role=MEMBER, get=MEMBER, post=None),
    "account:audit": Policy(role=ADMIN, get=ADMIN, post=None),
    "account:invite": Policy(
        role=OWNER,
        get=None,
        post=OWNER,
        payload=lambda t: {"email": "newcomer@example.com", "role": "admin"},
    ),
    "account:member_role": Policy(
        role=OWNER, get=None, post=OWNER, payload=lambda t: {"role": "admin"}
    ),
    "account:member_remove": Policy(role=OWNER, get=OWNER, post=OWNER),
    "account:invitation_revoke": Policy(role=OWNER, get=None, post=OWNER),
    "account:rename": Policy(
        role=OWNER, get=None, post=OWNER, payload=lambda t: {"name": "Planted name"}
    ),
    "account:token_create": Policy(
        role=MEMBER, get=None, post=MEMBER, payload=lambda t: {"token-name": "Planted"}, post_ok=200
    ),
    # The tenant's token belongs to its owner: anyone else is told it does not exist.
    "account:token_revoke": Policy(
        role=MEMBER, get=OWNER, post=OWNER, get_denied=404, post_denied=404
    ),
    # Visitor Lookup
    "lookup:index": Policy(role=MEMBER, get=MEMBER, post=None, get_ok=302),
    "lookup:site": Policy(
        role=MEMBER, get=MEMBER, post=None, query=lambda t: {"user_id": t.profile.user_id}
    ),
    "lookup:delete": Policy(
        role=ADMIN,
        get=ADMIN,
        post=ADMIN,
        query=lambda t: {"user_id": t.profile.user_id},
        payload=lambda t: {"user_id": t.profile.user_id},
    ),
    # User Attributes settings
    "user_attributes:index": Policy(role=MEMBER, get=MEMBER, post=None, get_ok=302),
    "user_attributes:settings": Policy(role=MEMBER, get=MEMBER, post=None),
    "user_attributes:enable": Policy(
        role=OWNER,
        get=OWNER,
        post=OWNER,
        payload=lambda t: {"privacy_reviewed": "on", "dpa_signed": "on"},
        prepare=_set_user_attributes(False),
    ),
    "user_attributes:disable": Policy(
        role=ADMIN, get=ADMIN, post=ADMIN, prepare=_set_user_attributes(True)
    ),
    "user_attributes:key_delete": Policy(role=ADMIN, get=ADMIN, post=ADMIN),
    # Polls and Incoming Feedback: members look, owners and admins build and switch
    "widgets:index": Policy(role=MEMBER, get=MEMBER, post=None, get_ok=302),
    "widgets:list": Policy(role=MEMBER, get=MEMBER, post=None),
    "widgets:create": Policy(role=ADMIN, get=ADMIN, post=ADMIN, payload=_widget_form),
    "widgets:edit": Policy(role=MEMBER, get=MEMBER, post=ADMIN, payload=_widget_form),
    "widgets:builder_condition": Policy(
        role=ADMIN, get=None, post=ADMIN, post_ok=200, post_writes=False
    ),
    "widgets:builder_question": Policy(
        role=ADMIN, get=None, post=ADMIN, post_ok=200, post_writes=False
    ),
    "widgets:builder_removed": Policy(role=ADMIN, get=ADMIN, post=None),
    "widgets:builder_preview": Policy(
        role=ADMIN, get=None, post=ADMIN, post_ok=200, post_writes=False
    ),
    "widgets:activate": Policy(
        role=ADMIN, get=None, post=ADMIN, prepare=_set_widget_status(Widget.Status.DRAFT)
    ),
    "widgets:pause": Policy(
        role=ADMIN, get=None, post=ADMIN, prepare=_set_widget_status(Widget.Status.ACTIVE)
    ),
    "widgets:delete": Policy(role=ADMIN, get=ADMIN, post=ADMIN),
    "widgets:results": Policy(role=MEMBER, get=MEMBER, post=None),
    "widgets:results_csv": Policy(role=MEMBER, get=MEMBER, post=None),
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


def _tenant(account: Account, site: Site, owner: User, user_id: str) -> Tenant:
    widget = WidgetFactory(
        site=site,
        name=f"{account.slug} spenders poll",
        status=Widget.Status.DRAFT,
        targeting={
            "match": "all",
            "conditions": [{"type": "number", "key": "spend", "op": "gt", "value": 0}],
        },
    )
    QuestionFactory(widget=widget, position=0, kind="rating", text="How are we doing?")
    profile = ProfileFactory(site=site, user_id=user_id)
    value = AttributeValueFactory(site=site, profile=profile, key="spend", number_value=5)
    AttributeKeyFactory(site=site, key=value.key, value_type="number", profile_count=1)
    return Tenant(
        account=account,
        site=site,
        profile=profile,
        token=ApiTokenFactory(account=account, user=owner, name=f"{account.slug} deploy key"),
        widget=widget,
        attribute_key=value.key,
        member=MembershipFactory(
            account=account,
            role=MEMBER,
            user=UserFactory(email=f"colleague@{account.slug}.example"),
        ),
        invitation=Invitation.objects.create(
            account=account,
            email=f"invited@{account.slug}.example",
            role=ADMIN,
            token_hash=f"{account.slug:x<64}"[:64],
            expires_at=timezone.now() + timedelta(days=7),
        ),
    )


@pytest.fixture
def tenant_a(account, site, owner) -> Tenant:
    return _tenant(account, site, owner, "user-of-radbooks")


@pytest.fixture
def tenant_b(other_account, other_site, other_owner) -> Tenant:
    return _tenant(other_account, other_site, other_owner, "user-of-other-co")


def snapshot(account: Account) -> dict:
    """Everything a request under /a/<slug>/ could change about an account."""
    account = Account.objects.get(pk=account.pk)
    sites = Site.objects.filter(account=account)
    return {
        "account": (account.name, account.slug, account.tier, account.billing_version),
        "sites": list(
            sites.order_by("key").values_list(
                "key", "name", "allowed_origins", "user_attributes_enabled"
            )
        ),
        "members": list(
            Membership.objects.filter(account=account)
            .order_by("user_id")
            .values_list("user_id", "role")
        ),
        "plan_changes": PlanChange.objects.filter(account=account).count(),
        "invitations": list(
            Invitation.objects.filter(account=account)
            .order_by("pk")
            .values_list("email", "role", "accepted_at", "revoked_at")
        ),
        "tokens": list(
            ApiToken.objects.filter(account=account)
            .order_by("pk")
            .values_list("name", "revoked_at")
        ),
        "profiles": sorted(
            Profile.objects.filter(site__in=sites).values_list("user_id", flat=True)
        ),
        "attribute_keys": sorted(
            AttributeKey.objects.filter(site__in=sites).values_list("key", flat=True)
        ),
        "attribute_values": AttributeValue.objects.filter(site__in=sites).count(),
        "consent_records": ConsentRecord.objects.filter(account=account).count(),
        "widgets": list(
            Widget.objects.filter(site__in=sites)
            .order_by("pk")
            .values_list("pk", "name", "status", "targeting", "url_contains")
        ),
        "questions": list(
            Question.objects.filter(site__in=sites)
            .order_by("pk")
            .values_list("widget_id", "kind", "text")
        ),
        "privacy_audits": PrivacyAudit.objects.filter(
            account=account, action=PrivacyAudit.Action.DELETE
        ).count(),
    }


def _full_url(method: str, url: str, route: Route, target: Tenant) -> str:
    query = route.policy.query(target) if method == "GET" else {}
    return f"{url}?{urlencode(query)}" if query else url


def _request(client, method: str, url: str, route: Route, target: Tenant):
    route.policy.prepare(target)
    if method == "GET":
        return client.get(_full_url(method, url, route, target))
    return client.post(url, route.policy.payload(target))


def _assert_nothing_of(tenant: Tenant, response) -> None:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    html = body.decode()
    for secret in tenant.secrets:
        assert secret not in html, f"{secret!r} leaked"


def _object_refusals(route: Route, method: str) -> set[int]:
    allowed = route.policy.get if method == "GET" else route.policy.post
    return {404} if allowed is not None else {404, 405}


def _require_params_known(route: Route) -> None:
    unknown = [p for p in route.object_params if p not in OBJECT_PARAMS]
    if unknown:
        pytest.fail(f"{route.name} ({route.route}): no filler for {unknown} in OBJECT_PARAMS")


# --- another account in the URL -----------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("route", TENANT_ROUTES, ids=str)
def test_another_accounts_slug_is_404(login, owner, tenant_a, tenant_b, route, method):
    # given an owner of A, and account B with its data
    _require_params_known(route)
    client = login(owner)
    route.policy.prepare(tenant_b)
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
    # given an owner of A who knows the key of B's site (and the id of B's token)
    _require_params_known(route)
    client = login(owner)
    route.policy.prepare(tenant_b)
    before = snapshot(tenant_b.account), snapshot(tenant_a.account)

    # when they put B's object under A's slug
    response = _request(client, method, route.url(tenant_a, tenant_b), route, tenant_b)

    # then it is "not found" exactly like a key that does not exist (or, for a method the
    # route does not take at all, the 405 any key gets: it says nothing about the object)
    assert response.status_code in _object_refusals(route, method)
    _assert_nothing_of(tenant_b, response)
    assert (snapshot(tenant_b.account), snapshot(tenant_a.account)) == before


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("route", OBJECT_ROUTES, ids=str)
def test_an_object_is_found_only_under_its_own_accounts_slug(
    login, owner, tenant_a, tenant_b, route, method
):
    # given a user who owns both A and B
    _require_params_known(route)
    MembershipFactory(account=tenant_b.account, user=owner, role=OWNER)
    client = login(owner)
    route.policy.prepare(tenant_a)
    before = snapshot(tenant_b.account), snapshot(tenant_a.account)

    # when they put A's object under B's slug
    response = _request(client, method, route.url(tenant_b, tenant_a), route, tenant_a)

    # then the object is not found in B
    assert response.status_code in _object_refusals(route, method)
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
    route.policy.prepare(tenant_a)
    before = snapshot(tenant_a.account)

    response = _request(client, method, url, route, tenant_a)

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == reverse("accounts:login")
    # A form's address comes back to the home page (without a page that sent it)
    back = _full_url(method, url, route, tenant_a) if method == "GET" else reverse("home")
    # and the log-in page says that what a form asked was not done
    said = {"session": ["ended"]} if method == "POST" else {}
    assert parse_qs(location.query) == {"next": [back], **said}
    assert snapshot(tenant_a.account) == before


@pytest.mark.parametrize(
    ("referer", "back"),
    [
        ("http://testserver/a/{slug}/account/?tab=tokens", "/a/{slug}/account/?tab=tokens"),
        ("https://evil.example/a/{slug}/account/", "/"),
        ("", "/"),
    ],
)
def test_a_form_sent_after_the_session_ended_comes_back_to_its_page(
    client, tenant_a, referer, back
):
    """Its own address takes only forms: a log-in coming back there would open a 405."""
    slug = tenant_a.account.slug
    headers = {"HTTP_REFERER": referer.format(slug=slug)} if referer else {}

    response = client.post(reverse("account:token_create", args=[slug]), {"name": "CI"}, **headers)

    assert parse_qs(urlsplit(response["Location"]).query) == {
        "next": [back.format(slug=slug)],
        "session": ["ended"],  # the log-in page says that what was sent was not done
    }


@pytest.mark.parametrize("route", TENANT_ROUTES, ids=str)
def test_an_anonymous_htmx_request_takes_the_window_to_login_and_back_to_its_page(
    client, tenant_a, tenant_b, route
):
    _require_params_known(route)
    url = route.url(tenant_a, tenant_a)
    page = f"/a/{tenant_a.account.slug}/sites/?from=page"

    response = client.get(
        url, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver{page}"
    )

    assert response.status_code == 200
    assert response.content == b""
    location = urlsplit(response["HX-Redirect"])
    assert location.path == reverse("accounts:login")
    assert parse_qs(location.query) == {"next": [page], "session": ["ended"]}


def test_an_htmx_request_from_another_site_comes_back_to_its_own_url(client, tenant_a):
    url = reverse("sites:list", args=[tenant_a.account.slug])

    response = client.get(
        url, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="https://evil.example/a/x/"
    )

    assert parse_qs(urlsplit(response["HX-Redirect"]).query) == {
        "next": [url],
        "session": ["ended"],
    }


# --- roles --------------------------------------------------------------------------


ROLE_FIXTURES = {OWNER: "owner", ADMIN: "admin_user", MEMBER: "member"}


def _expected(policy: Policy, method: str, role: str) -> set[int]:
    least = policy.get if method == "GET" else policy.post
    if RANK[role] < RANK[policy.role]:
        # refused by the view's role; a view that checks the method first says 405
        return {403} if least is not None else {403, 405}
    if least is None:
        return {405}
    if RANK[role] < RANK[least]:
        return {policy.get_denied if method == "GET" else policy.post_denied}
    return {policy.get_ok if method == "GET" else policy.post_ok}


@pytest.mark.parametrize("role", list(ROLE_FIXTURES))
@pytest.mark.parametrize("route", TENANT_ROUTES, ids=str)
def test_who_may_get(request, login, tenant_a, tenant_b, route, role):
    _require_params_known(route)
    client = login(request.getfixturevalue(ROLE_FIXTURES[role]))

    response = _request(client, "GET", route.url(tenant_a, tenant_a), route, tenant_a)

    assert response.status_code in _expected(route.policy, "GET", role)
    _assert_nothing_of(tenant_b, response)
    if response.status_code == 200:  # an account's page is kept by no browser or proxy
        assert "no-store" in response["Cache-Control"]
        assert "private" in response["Cache-Control"]


@pytest.mark.parametrize("role", list(ROLE_FIXTURES))
@pytest.mark.parametrize("route", TENANT_ROUTES, ids=str)
def test_who_may_post(request, login, tenant_a, tenant_b, route, role):
    # given a user of A with this role, and A in a state where the POST would succeed
    _require_params_known(route)
    client = login(request.getfixturevalue(ROLE_FIXTURES[role]))
    route.policy.prepare(tenant_a)
    before_a, before_b = snapshot(tenant_a.account), snapshot(tenant_b.account)

    # when they send a POST that would change A
    response = _request(client, "POST", route.url(tenant_a, tenant_a), route, tenant_a)

    # then an allowed role changed A (and only A); a refused one changed nothing
    expected = _expected(route.policy, "POST", role)
    assert response.status_code in expected
    allowed = expected == {route.policy.post_ok}
    assert (snapshot(tenant_a.account) != before_a) is (allowed and route.policy.post_writes)
    assert snapshot(tenant_b.account) == before_b
    _assert_nothing_of(tenant_b, response)
