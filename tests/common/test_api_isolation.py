"""Every API route, walked from the URL resolver, against another tenant's credentials.

Private routes (a member's token) must answer 401 without a token and 404 with another
account's token, with no data in the body and nothing changed. Public routes (a site key,
used by the tracking script) may only ever touch the site the key names. A new API route
fails this module until it says how to check it.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from apps.accounts.services import api_token_create
from apps.common.api import AccountTokenAPIView, PublicSiteAPIView
from apps.feedback_targeting.models import Response, Widget
from apps.feedback_targeting.services import QuestionSpec, widget_activate, widget_save
from apps.identity.models import PrivacyAudit, Profile, Session, Visitor
from apps.identity.services import visitor_identify
from apps.user_attributes.models import AttributeValue

VISITOR = "shared0shared0shared0shared00000"
SECRET_USER = "secret-user-of-b"


def api_routes() -> list[tuple[str, type]]:
    """(route, view class) of every URL under api/v1/."""
    found = []

    def walk(patterns, prefix=""):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                route = prefix + str(entry.pattern)
                view_class = getattr(entry.callback, "view_class", None)
                if route.startswith("api/v1/"):
                    found.append((route, view_class))

    walk(get_resolver().url_patterns)
    return found


@pytest.fixture
def tenants(site, other_site, owner, other_owner):
    """Account A (`site`) and account B (`other_site`), each with a person, a poll and an
    owner token; B's person uses the same visitor id and user id shape as A's."""
    for each in (site, other_site):
        user = "user-of-a" if each == site else SECRET_USER
        visitor_identify(
            site=each, visitor_id=VISITOR, user_id=user, attributes={"plan": f"plan-{user}"}
        )
    poll = {}
    for each in (site, other_site):
        poll[each.pk] = widget_activate(
            widget=widget_save(
                site=each,
                kind="poll",
                name=f"poll of {each.name}",
                targeting={},
                questions=[QuestionSpec(kind="rating", text=f"Rate {each.name}")],
            )
        )
    token_a = api_token_create(account=site.account, user=owner, name="a")[1]
    token_b = api_token_create(account=other_site.account, user=other_owner, name="b")[1]
    return {"a": site, "b": other_site, "token_a": token_a, "token_b": token_b, "poll": poll}


def snapshot(site) -> dict:
    return {
        "profiles": list(Profile.objects.filter(site=site).values_list("pk", "user_id")),
        "values": list(AttributeValue.objects.filter(site=site).values_list("key", "string_value")),
        "visitors": Visitor.objects.filter(site=site).count(),
        "sessions": Session.objects.filter(site=site).count(),
        "responses": Response.objects.filter(site=site).count(),
        "widgets": list(Widget.objects.filter(site=site).values_list("pk", "status")),
    }


def fill(route: str, site, tenants) -> str:
    path = "/" + route.replace("<str:site_key>", site.key)
    return path.replace("<int:widget_id>", str(tenants["poll"][site.pk].pk))


def check_private(api_client, route, tenants):
    """A's token never reaches B's site; no token is 401."""
    b = tenants["b"]
    path = fill(route, b, tenants) + f"?user_id={SECRET_USER}"
    before = snapshot(b)
    for method in ("get", "delete"):
        anonymous = getattr(api_client, method)(path)
        assert anonymous.status_code == 401, (route, method)
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tenants['token_a']}")
        response = getattr(api_client, method)(path)
        api_client.credentials()
        assert response.status_code == 404, (route, method)
        assert SECRET_USER not in response.content.decode()
    assert snapshot(b) == before
    assert not PrivacyAudit.objects.filter(site=b).exists()


def check_public(api_client, route, tenants):
    """With A's site key, nothing of B is read or written, even for B's visitor id,
    user id or widget id."""
    a, b = tenants["a"], tenants["b"]
    before_b = snapshot(b)
    b_poll = tenants["poll"][b.pk].pk
    path = "/" + route.replace("<str:site_key>", a.key).replace("<int:widget_id>", str(b_poll))
    if route.endswith("identify"):
        response = api_client.post(
            path,
            {"visitor_id": VISITOR, "user_id": SECRET_USER, "attributes": {"plan": "x"}},
            format="json",
        )
        assert response.status_code == 200
    elif route.endswith("sessions"):
        response = api_client.post(
            path,
            {"visitor_id": VISITOR, "session_id": "s" * 20, "url": "https://a.example/"},
            format="json",
        )
        assert response.status_code == 200
    elif route.endswith("widgets"):
        response = api_client.get(path, {"visitor_id": VISITOR, "url": "/"})
        assert [w["id"] for w in response.json()["widgets"]] == [tenants["poll"][a.pk].pk]
    elif route.endswith("responses"):
        response = api_client.post(path, {"visitor_id": VISITOR, "answers": {}}, format="json")
        assert response.status_code == 404
        assert response.json()["code"] == "unknown_widget"
    else:
        pytest.fail(f"{route}: add a check for this public route to check_public")
    body = response.content.decode()
    assert "plan-secret" not in body
    assert f"poll of {b.name}" not in body
    assert snapshot(b) == before_b


@pytest.mark.django_db
def test_every_api_route_is_isolated(api_client, tenants):
    routes = api_routes()
    checked = []
    for route, view_class in routes:
        if view_class is not None and issubclass(view_class, AccountTokenAPIView):
            check_private(api_client, route, tenants)
        elif view_class is not None and issubclass(view_class, PublicSiteAPIView):
            check_public(api_client, route, tenants)
        else:
            pytest.fail(f"{route}: unknown kind of API view {view_class}; say how to check it")
        checked.append(route)
    assert len(checked) == len(routes) >= 5


@pytest.mark.django_db
def test_a_member_of_another_account_gets_nothing_through_a_page_session(
    client, tenants, other_owner
):
    """A logged-in browser session is no credential for the private API."""
    client.force_login(other_owner)
    a = tenants["a"]
    response = client.get(f"/api/v1/sites/{a.key}/lookup?user_id=user-of-a")
    assert response.status_code == 401
    assert "user-of-a" not in response.content.decode()
