"""The account's audit trail: plan, consent, tokens and privacy requests, append-only."""

import html
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import AccountEvent, Membership
from apps.accounts.services import api_token_create, api_token_revoke, user_signup
from apps.billing.models import PlanChange
from apps.billing.services import plan_change
from apps.consent.selectors import consent_statements
from apps.consent.services import user_attributes_enable
from apps.identity.models import PrivacyAudit
from apps.identity.services import person_delete, visitor_identify
from tests.factories import PASSWORD, SiteFactory
from tests.feedback_targeting.factories import ResponseFactory, WidgetFactory


def test_token_creation_and_revocation_are_recorded_without_the_secret(account, owner):
    token, raw = api_token_create(account=account, user=owner, name="privacy")
    api_token_revoke(token=token, by=owner)

    events = list(AccountEvent.objects.order_by("id").values_list("action", "actor_email"))
    assert events == [("token_created", owner.email), ("token_revoked", owner.email)]
    assert all(raw not in e.subject for e in AccountEvent.objects.all())
    event = AccountEvent.objects.first()
    event.subject = "edited"
    with pytest.raises(ValueError, match="append-only"):
        event.save()


def test_owner_sees_every_kind_of_change_newest_first(login, account, owner, other_owner):
    site = SiteFactory(account=account, user_attributes_enabled=False)
    plan_change(account=account, tier="scale", changed_by=owner)
    user_attributes_enable(
        site=site,
        user=owner,
        confirmed=set(consent_statements(account=account)),
        client_ip="198.51.100.1",
    )
    api_token_create(account=account, user=owner, name="back office")
    person_delete(site=site, user_id="ABC", email=None, requested_by=owner, channel="page")
    # Another account's changes never show.
    api_token_create(account=other_owner.memberships.get().account, user=other_owner, name="x")

    page = login(owner).get(f"/a/{account.slug}/account/audit/").content.decode()

    kinds = [k for k in ("privacy", "token", "consent", "plan") if f'data-kind="{k}"' in page]
    assert kinds == ["privacy", "token", "consent", "plan"]
    assert page.index('data-kind="privacy"') < page.index('data-kind="plan"')
    assert "Plan Business V2 → Scale V2" in page
    assert "Enabled User Attributes" in page
    assert "back office" in page
    assert "0 profiles, 0 attribute values, 0 devices, 0 sessions and 0 feedback responses" in page
    account_page = login(owner).get(f"/a/{account.slug}/account/").content.decode()
    assert "0 profiles, 0 attribute values, 0 devices, 0 sessions and 0 feedback" in account_page
    assert PrivacyAudit.objects.count() == 1
    assert "x (" not in page


def test_members_cannot_read_it_and_admins_read_the_privacy_requests_only(
    login, account, owner, member, admin_user
):
    site = SiteFactory(account=account)
    api_token_create(account=account, user=owner, name="back office")
    person_delete(site=site, user_id="ABC", email=None, requested_by=owner, channel="page")
    url = f"/a/{account.slug}/account/audit/"
    assert login(member).get(url).status_code == 403

    for asked in (url, f"{url}?area=privacy"):
        page = login(admin_user).get(asked).content.decode()
        assert "<h1>Privacy requests</h1>" in page
        assert page.count('data-kind="privacy"') == 1
        assert 'data-kind="token"' not in page
        assert "The whole audit trail" not in page
    account_page = login(admin_user).get(f"/a/{account.slug}/account/").content.decode()
    assert f'href="{url}?area=privacy" id="all-privacy-requests"' in account_page

    owner_page = login(owner).get(f"{url}?area=privacy").content.decode()
    assert 'data-kind="token"' not in owner_page
    assert "The whole audit trail" in owner_page


def _entries(page: str) -> list[str]:
    return re.findall(
        r'<tr data-kind="\w+"><td>[^<]+</td><td><span class="badge">\w+</span></td>'
        r"<td>[^<]+</td><td>[^<]+</td><td class=\"small\">([^<]*)</td>",
        page,
    )


def test_the_trail_pages_through_every_entry_once_even_at_one_instant(
    login, account, owner, settings
):
    site = SiteFactory(account=account)
    at = timezone.now()
    # 130 lookups and 20 token events at the very same instant, 5 plan changes before
    PrivacyAudit.objects.bulk_create(
        PrivacyAudit(
            account=account,
            site=site,
            site_name=site.name,
            action="lookup",
            channel="api",
            requested_by_email=owner.email,
            profiles_found=n,
        )
        for n in range(130)
    )
    AccountEvent.objects.bulk_create(
        AccountEvent(
            account=account, action="token_created", actor_email=owner.email, subject=f"token {n}"
        )
        for n in range(20)
    )
    PrivacyAudit.objects.update(created_at=at)
    AccountEvent.objects.update(created_at=at)
    for n in range(5):
        plan_change(account=account, tier=["scale", "business"][n % 2], changed_by=owner)
    PlanChange.objects.update(created_at=at - timedelta(days=1))
    client = login(owner)
    url = f"/a/{account.slug}/account/audit/"

    first = client.get(url).content.decode()
    assert "155 entries in all; 100 on this page, the newest." in first
    pages, next_url = [_entries(first)], re.search(r'href="(\?after=[^"]+)" rel="next"', first)
    while next_url:
        page = client.get(url + html.unescape(next_url[1])).content.decode()
        assert "older ones" in page
        pages.append(_entries(page))
        next_url = re.search(r'href="(\?after=[^"]+)" rel="next"', page)

    assert [len(p) for p in pages] == [100, 55]
    seen = [d for p in pages for d in p]
    assert seen[:20] == [f"token {n}" for n in reversed(range(20))]
    assert seen[20:150] == [
        f"{n} profile{'' if n == 1 else 's'} found (Private API)" for n in reversed(range(130))
    ]
    assert len(set(seen[:150])) == 150
    assert len(seen) == 155


@pytest.mark.parametrize(
    "after",
    [
        "yesterday~x~1",
        "2026-01-01T00:00:00+00:00~nope~1",
        "2026-01-01T00:00:00~plan~1",  # no time zone
        "0001-01-01T00:00:00+01:00~plan~1",  # before the year 1 in UTC
        "2026-01-01T00:00:00+00:00~plan~99999999999999999999999",
        "2026-01-01T00:00:00+00:00~plan",
    ],
)
def test_a_broken_link_to_older_entries_shows_the_newest_with_a_message(
    login, account, owner, after
):
    api_token_create(account=account, user=owner, name="back office")

    response = login(owner).get(f"/a/{account.slug}/account/audit/", {"after": after})

    assert response.status_code == 400
    page = response.content.decode()
    assert "This link to older entries is not valid. The newest are below." in page
    assert 'data-kind="token"' in page


def test_a_plan_change_still_names_its_maker_once_their_user_is_deleted(
    login, account, owner, admin_user
):
    Membership.objects.filter(user=admin_user).update(role=Membership.Role.OWNER)
    plan_change(account=account, tier="scale", changed_by=admin_user)
    plan_change(account=account, tier="business", changed_by=None)  # a staff script
    email = admin_user.email
    admin_user.delete()

    audit = login(owner).get(f"/a/{account.slug}/account/audit/").content.decode()
    plan = login(owner).get(reverse("billing:plan", args=[account.slug])).content.decode()

    for page in (audit, plan):
        assert email in page
        assert "Cohort support" in page
    assert [c.who for c in PlanChange.objects.filter(account=account)[:2]] == [
        "Cohort support",
        email,
    ]


def test_the_plan_an_account_starts_on_reads_as_on_the_plan_page(client, login, db):
    owner, account = user_signup(email="ana@example.com", password=PASSWORD, account_name="Ana")

    audit = login(owner).get(f"/a/{account.slug}/account/audit/").content.decode()
    plan = login(owner).get(reverse("billing:plan", args=[account.slug])).content.decode()

    assert "Plan Basic V2" in audit
    assert "V—" not in audit
    assert "<td>Basic V2</td>" in plan


def test_site_changes_and_data_deletions_are_in_the_trail(login, account, owner, admin_user):
    """Who made a site, changed where its calls may come from, or deleted data (a site, a
    widget with its responses, an attribute key with its values), and when."""
    client = login(admin_user)
    slug = account.slug
    client.post(
        reverse("sites:create", args=[slug]),
        {"name": "Shop X", "allowed_origins": "https://x.example"},
    )
    site = account.sites.get(name="Shop X")
    client.post(
        reverse("sites:detail", args=[slug, site.key]),
        {"name": "Shop X", "allowed_origins": "https://evil.example"},
    )
    account.sites.filter(pk=site.pk).update(user_attributes_enabled=True)
    site.refresh_from_db()
    visitor_identify(site=site, visitor_id="v" * 20, user_id="u1", attributes={"plan": "a"})
    client.post(reverse("user_attributes:key_delete", args=[slug, site.key, "plan"]))
    widget = WidgetFactory(site=site, kind="feedback", name="Tab")
    ResponseFactory(widget=widget, emotion=5)
    client.post(reverse("widgets:delete", args=[slug, site.key, widget.pk]))
    client.post(reverse("sites:delete", args=[slug, site.key]), {"confirm_name": "Shop X"})

    events = list(
        AccountEvent.objects.filter(account=account)
        .order_by("pk")
        .values_list("action", "actor_email", "subject")
    )
    assert events == [
        ("site_created", admin_user.email, "Shop X (https://x.example)"),
        (
            "site_changed",
            admin_user.email,
            "Shop X: origins https://x.example → https://evil.example",
        ),
        ("attribute_deleted", admin_user.email, "plan on Shop X: 1 value"),
        ("widget_deleted", admin_user.email, "“Tab” on Shop X: 1 response"),
        ("site_deleted", admin_user.email, "Shop X"),
    ]
    trail = html.unescape(login(owner).get(reverse("account:audit", args=[slug])).content.decode())
    assert "Site deleted with its data" in trail
    assert "Widget deleted with its responses" in trail
