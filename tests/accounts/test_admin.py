"""Staff use the Django admin: users with email login, accounts and their plans."""

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Account, AccountEvent, ApiToken, Invitation, Membership, User
from apps.accounts.selectors import api_token_authenticate
from apps.accounts.services import api_token_create, email_confirmed, user_signup
from apps.billing.models import PlanChange
from apps.consent.models import ConsentRecord
from apps.consent.selectors import consent_statements
from apps.consent.services import user_attributes_enable
from apps.identity.models import Profile
from apps.sites.models import Site
from tests.common.admin_forms import admin_form_data
from tests.factories import (
    PASSWORD,
    ApiTokenFactory,
    MembershipFactory,
    PlanChangeFactory,
    ProfileFactory,
    SiteFactory,
)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def _account_change(staff_client, account, **changes):
    url = reverse("admin:accounts_account_change", args=[account.pk])
    data = admin_form_data(staff_client.get(url))
    data.update(changes)
    return staff_client.post(url, data)


def test_staff_upgrade_in_the_admin_goes_through_the_plan_service(
    staff_client, staff, account, owner, other_account
):
    # given an account on Business V2 and another tenant
    account.tier, account.billing_version = Account.Tier.PLUS, 1
    account.save(update_fields=["tier", "billing_version"])

    # when staff move it to Scale on billing version 3 in the admin
    response = _account_change(staff_client, account, tier="scale", billing_version="3")

    # then the plan changed and the change is in the plan history, made by staff
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:accounts_account_changelist")
    account.refresh_from_db()
    assert (account.tier, account.billing_version) == ("scale", 3)
    change = PlanChange.objects.get(account=account)
    assert (change.source, change.changed_by) == (PlanChange.Source.STAFF, staff)
    assert (change.from_tier, change.to_tier) == ("plus", "scale")
    assert (change.from_billing_version, change.to_billing_version) == (1, 3)
    # the members were left as they were, the other tenant was not touched
    assert list(account.memberships.values_list("user", "role")) == [(owner.pk, "owner")]
    other_account.refresh_from_db()
    assert (other_account.tier, other_account.billing_version) == ("business", 2)
    assert not PlanChange.objects.filter(account=other_account).exists()


def test_staff_move_a_v1_account_to_v2_keeping_the_tier(staff_client, staff, account):
    # given a Business account on billing version 1
    account.billing_version = 1
    account.save(update_fields=["billing_version"])

    # when staff change only the billing version
    response = _account_change(staff_client, account, billing_version="2")

    # then only the version moved, and it is recorded
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.tier, account.billing_version) == ("business", 2)
    change = PlanChange.objects.get(account=account)
    assert (change.from_tier, change.to_tier) == ("business", "business")
    assert (change.from_billing_version, change.to_billing_version) == (1, 2)
    assert change.changed_by == staff


def test_renaming_an_account_in_the_admin_records_no_plan_change(staff_client, account):
    response = _account_change(staff_client, account, name="Radbooks Ltd")

    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.name, account.tier, account.billing_version) == ("Radbooks Ltd", "business", 2)
    assert PlanChange.objects.count() == 0


def test_an_invalid_billing_version_is_refused_and_nothing_changes(staff_client, account):
    response = _account_change(staff_client, account, billing_version="7")

    assert response.status_code == 200
    assert "Select a valid choice. 7 is not one of the available choices." in (
        response.content.decode()
    )
    account.refresh_from_db()
    assert (account.tier, account.billing_version) == ("business", 2)
    assert PlanChange.objects.count() == 0


def test_staff_add_a_member_from_the_account_page(staff_client, account, owner, member):
    # given an account with an owner and a member, and a user of no account
    newcomer = User.objects.create_user(email="new@example.com", password=PASSWORD)
    url = reverse("admin:accounts_account_change", args=[account.pk])
    data = admin_form_data(staff_client.get(url))
    prefix = "memberships"
    total = int(data[f"{prefix}-TOTAL_FORMS"])
    data.update(
        {
            f"{prefix}-TOTAL_FORMS": str(total + 1),
            f"{prefix}-{total}-account": str(account.pk),
            f"{prefix}-{total}-user": str(newcomer.pk),
            f"{prefix}-{total}-role": "admin",
        }
    )

    # when staff add the newcomer as an admin
    response = staff_client.post(url, data)

    # then the account has three members and no plan change was recorded
    assert response.status_code == 302
    assert set(account.memberships.values_list("user__email", "role")) == {
        (owner.email, "owner"),
        (member.email, "member"),
        ("new@example.com", "admin"),
    }
    assert PlanChange.objects.count() == 0


def test_account_page_shows_the_plan_history_read_only(staff_client, account, other_account):
    PlanChangeFactory(account=account, from_tier="basic", to_tier="business")
    PlanChangeFactory(account=other_account, from_tier="plus", to_tier="scale")

    response = staff_client.get(reverse("admin:accounts_account_change", args=[account.pk]))

    assert response.status_code == 200
    history = next(
        inline.formset
        for inline in response.context["inline_admin_formsets"]
        if inline.formset.model is PlanChange
    )
    assert [form.instance.to_tier for form in history.forms] == ["business"]
    assert not history.can_delete


def test_accounts_are_not_added_in_the_admin(staff_client):
    # an account needs its owner and opening plan entry, which sign-up provides
    assert staff_client.get(reverse("admin:accounts_account_add")).status_code == 403


def test_account_list_columns_search_and_filters(staff_client, account, other_account, owner):
    url = reverse("admin:accounts_account_changelist")

    listed = staff_client.get(url)
    by_email = staff_client.get(url, {"q": owner.email})
    by_tier = staff_client.get(url, {"tier__exact": "business", "billing_version__exact": "2"})

    assert listed.status_code == 200
    assert {a.slug for a in listed.context["cl"].result_list} == {"radbooks", "other-co"}
    assert [a.slug for a in by_email.context["cl"].result_list] == ["radbooks"]
    assert {a.slug: a._member_count for a in listed.context["cl"].result_list} == {
        "radbooks": 1,
        "other-co": 0,
    }
    assert {a.slug for a in by_tier.context["cl"].result_list} == {"radbooks", "other-co"}


def _add_user(staff_client, email):
    url = reverse("admin:accounts_user_add")
    data = admin_form_data(staff_client.get(url))
    data.update(
        {
            "email": email,
            "usable_password": "true",
            "password1": "a-long-passphrase-42",
            "password2": "a-long-passphrase-42",
        }
    )
    return staff_client.post(url, data)


def test_staff_create_a_user_who_logs_in_with_email(staff_client, client):
    # when staff add a user with a mixed-case email
    response = _add_user(staff_client, "New.Person@Example.com")

    # then the user exists with the email lowercased and can log in with it
    assert response.status_code == 302
    user = User.objects.get(email="new.person@example.com")
    assert not user.is_staff
    client.logout()
    assert client.login(email="new.person@example.com", password="a-long-passphrase-42")


def test_staff_cannot_add_a_second_user_with_the_same_email(staff_client, owner):
    response = _add_user(staff_client, owner.email.upper())

    assert response.status_code == 200
    assert "A user with this email already exists." in response.content.decode()
    assert User.objects.filter(email__iexact=owner.email).count() == 1


def test_user_change_page_and_search(staff_client, owner, other_owner):
    change = staff_client.get(reverse("admin:accounts_user_change", args=[owner.pk]))
    found = staff_client.get(reverse("admin:accounts_user_changelist"), {"q": "Radbooks"})

    assert change.status_code == 200
    assert [u.email for u in found.context["cl"].result_list] == [owner.email]


def test_non_staff_users_are_sent_to_the_admin_login(client, owner):
    client.force_login(owner)

    response = client.get(reverse("admin:accounts_account_changelist"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_revoke_tokens_and_never_see_their_hash(
    staff_client, account, owner, other_account, other_owner
):
    # given a token in each tenant
    mine = ApiTokenFactory(account=account, user=owner, token_hash="a" * 64)
    theirs = ApiTokenFactory(account=other_account, user=other_owner)
    url = reverse("admin:accounts_apitoken_changelist")

    # when staff revoke the first one from the list
    detail = staff_client.get(reverse("admin:accounts_apitoken_change", args=[mine.pk]))
    response = staff_client.post(
        url, {"action": "revoke", "_selected_action": [mine.pk]}, follow=True
    )

    # then only that token is revoked, and the hash was never on a page
    assert "Revoked 1 token(s)." in response.content.decode()
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None
    assert theirs.revoked_at is None
    assert "a" * 64 not in detail.content.decode()
    assert staff_client.get(reverse("admin:accounts_apitoken_add")).status_code == 403


def test_createsuperuser_makes_staff_who_log_in_to_the_admin(db, client, monkeypatch):
    # given a superuser created the way the README says, non-interactively
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-passphrase-42")
    call_command("createsuperuser", "--noinput", "--email", "Boss@Cohort.example", verbosity=0)

    # when they log in on the admin's own login page
    response = client.post(
        reverse("admin:login"),
        {"username": "boss@cohort.example", "password": "a-long-passphrase-42"},
    )

    # then they are in
    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200
    assert User.objects.get(email="boss@cohort.example").is_superuser


def test_staff_delete_an_account_with_its_plan_history_sites_and_tokens(
    staff_client, db, django_capture_on_commit_callbacks
):
    # An account made by sign-up: its plan history has an opening entry, read-only here.
    owner, account = user_signup(email="ana@example.com", password=PASSWORD, account_name="Ana")
    email_confirmed(user=owner)
    site = SiteFactory(account=account, user_attributes_enabled=False)
    api_token_create(account=account, user=owner, name="back end")
    Account.objects.filter(pk=account.pk).update(tier="business")
    account.refresh_from_db()
    user_attributes_enable(
        site=site, user=owner, confirmed=set(consent_statements(account=account)), client_ip=None
    )
    for n in range(3):
        ProfileFactory(site=site, user_id=f"person-{n}")
    Invitation.objects.create(
        account=account,
        email="invited@example.com",
        role="member",
        token_hash="x" * 64,
        expires_at=timezone.now(),
    )
    url = reverse("admin:accounts_account_delete", args=[account.pk])

    confirm = staff_client.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):  # the sites' rows erased then
        response = staff_client.post(url, {"post": "yes"})

    # Counted by kind, not listed row by row: a large tenant's page would never finish.
    assert "Are you sure" in confirm
    assert "<li>Profiles: 3</li>" in confirm
    assert "<li>Plan changes: 1</li>" in confirm
    assert "<li>Invitations: 1</li>" in confirm
    assert "<li>Consent records: 1</li>" in confirm  # the account's trails go with it
    assert "<li>Account events: 1</li>" in confirm  # the token's creation
    assert "person-1" not in confirm
    assert response.status_code == 302
    assert not Account.objects.filter(pk=account.pk).exists()
    assert not Site.with_deleted.filter(pk=site.pk).exists()
    assert not Profile.objects.filter(site_id=site.pk).exists()
    assert not PlanChange.objects.filter(account_id=account.pk).exists()
    assert not ConsentRecord.objects.filter(account_id=account.pk).exists()


def test_staff_delete_a_user_who_held_an_api_token(staff_client, account, admin_user):
    ApiTokenFactory(account=account, user=admin_user)

    response = staff_client.post(
        reverse("admin:accounts_user_delete", args=[admin_user.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert not User.objects.filter(pk=admin_user.pk).exists()


def test_the_only_owner_of_an_account_is_not_deleted(staff_client, account, owner, admin_user):
    url = reverse("admin:accounts_user_delete", args=[owner.pk])

    page = staff_client.get(url).content.decode()
    refused = staff_client.post(url, {"post": "yes"})

    assert f"{account.name} (account): {owner.email} is its only owner" in page
    assert "is its only owner" in refused.content.decode()  # the page again, nothing deleted
    assert User.objects.filter(pk=owner.pk).exists()
    # With a second owner, the first can go.
    Membership.objects.filter(user=admin_user).update(role=Membership.Role.OWNER)
    assert staff_client.post(url, {"post": "yes"}).status_code == 302
    assert not User.objects.filter(pk=owner.pk).exists()


def test_an_email_staff_edit_is_kept_in_lower_case_and_still_logs_in(staff_client, client, owner):
    url = reverse("admin:accounts_user_change", args=[owner.pk])
    data = admin_form_data(staff_client.get(url))

    assert staff_client.post(url, {**data, "email": "Ana.New@Example.COM"}).status_code == 302

    owner.refresh_from_db()
    assert owner.email == "ana.new@example.com"
    login = {"username": "Ana.New@Example.com", "password": PASSWORD}
    assert client.post(reverse("accounts:login"), login).status_code == 302


def test_staff_cannot_give_a_user_another_users_email_in_other_case(
    staff_client, owner, other_owner
):
    url = reverse("admin:accounts_user_change", args=[owner.pk])
    data = admin_form_data(staff_client.get(url))

    response = staff_client.post(url, {**data, "email": other_owner.email.upper()})

    assert "A user with this email already exists." in response.content.decode()
    owner.refresh_from_db()
    assert owner.email != other_owner.email


def _membership_rows(data: dict, prefix: str = "memberships") -> dict[str, int]:
    """The inline's row index of each member's email, from the rendered form data."""
    users = {u.pk: u.email for u in User.objects.all()}
    total = int(data[f"{prefix}-TOTAL_FORMS"])
    return {users[int(data[f"{prefix}-{i}-user"])]: i for i in range(total)}


@pytest.mark.parametrize(
    "change", [{"role": "member"}, {"DELETE": "on"}], ids=["demoted", "removed"]
)
def test_the_account_page_keeps_an_owner_on_the_account(staff_client, account, owner, change):
    url = reverse("admin:accounts_account_change", args=[account.pk])
    data = admin_form_data(staff_client.get(url))
    row = _membership_rows(data)[owner.email]

    response = staff_client.post(
        url, {**data, **{f"memberships-{row}-{k}": v for k, v in change.items()}}
    )

    assert response.status_code == 200
    assert f"{account.name} would have no owner left" in response.content.decode()
    assert Membership.objects.get(account=account, user=owner).role == "owner"


def test_the_user_page_keeps_an_owner_on_each_account(staff_client, account, owner):
    url = reverse("admin:accounts_user_change", args=[owner.pk])
    data = admin_form_data(staff_client.get(url))

    response = staff_client.post(url, {**data, "memberships-0-role": "admin"})

    assert f"{account.name} would have no owner left" in response.content.decode()
    assert Membership.objects.get(account=account, user=owner).role == "owner"


def test_staff_hand_ownership_to_another_member_in_one_save(staff_client, account, owner, member):
    url = reverse("admin:accounts_account_change", args=[account.pk])
    data = admin_form_data(staff_client.get(url))
    rows = _membership_rows(data)

    response = staff_client.post(
        url,
        {
            **data,
            f"memberships-{rows[owner.email]}-role": "member",
            f"memberships-{rows[member.email]}-role": "owner",
        },
    )

    assert response.status_code == 302
    assert set(account.memberships.values_list("user__email", "role")) >= {
        (owner.email, "member"),
        (member.email, "owner"),
    }


def test_a_member_removed_in_the_admin_loses_their_tokens_for_good(
    staff_client, staff, account, member, site
):
    raw = api_token_create(account=account, user=member, name="back end")[1]
    url = reverse("admin:accounts_account_change", args=[account.pk])
    data = admin_form_data(staff_client.get(url))
    row = _membership_rows(data)[member.email]

    assert staff_client.post(url, {**data, f"memberships-{row}-DELETE": "on"}).status_code == 302

    token = ApiToken.objects.get(user=member)
    assert token.revoked_at is not None
    event = AccountEvent.objects.get(action=AccountEvent.Action.TOKEN_REVOKED)
    assert event.actor_email == staff.email
    # Made a member again, the person's old token stays dead.
    MembershipFactory(account=account, user=member, role="member")
    assert api_token_authenticate(raw=raw) is None


def test_the_membership_pages_keep_an_owner_and_revoke_a_removed_members_tokens(
    staff_client, account, owner, member
):
    sole = Membership.objects.get(account=account, user=owner)
    change = reverse("admin:accounts_membership_change", args=[sole.pk])
    data = admin_form_data(staff_client.get(change))

    demoted = staff_client.post(change, {**data, "role": "member"})
    delete_page = staff_client.get(reverse("admin:accounts_membership_delete", args=[sole.pk]))

    assert f"{account.name} would have no owner left" in demoted.content.decode()
    assert f"{account.name} would have no owner left" in delete_page.content.decode()
    assert Membership.objects.get(pk=sole.pk).role == "owner"
    raw = api_token_create(account=account, user=member, name="back end")[1]
    gone = Membership.objects.get(account=account, user=member)
    url = reverse("admin:accounts_membership_delete", args=[gone.pk])
    assert staff_client.post(url, {"post": "yes"}).status_code == 302
    MembershipFactory(account=account, user=member, role="member")
    assert api_token_authenticate(raw=raw) is None


def test_a_membership_does_not_move_to_another_person(staff_client, account, owner, member):
    url = reverse("admin:accounts_account_change", args=[account.pk])
    data = admin_form_data(staff_client.get(url))
    row = _membership_rows(data)[member.email]
    newcomer = User.objects.create_user(email="new@example.com", password=PASSWORD)

    response = staff_client.post(url, {**data, f"memberships-{row}-user": str(newcomer.pk)})

    assert "A membership cannot move to another person or account" in response.content.decode()
    assert Membership.objects.filter(account=account, user=member).exists()


# --- large accounts, counts and the audit trail ------------------------------------------


def test_a_large_accounts_plan_changes_with_its_members_on_their_own_list(
    staff_client, account, owner
):
    users = User.objects.bulk_create(
        User(email=f"m{n}@example.com", password="!") for n in range(300)
    )
    Membership.objects.bulk_create(
        Membership(account=account, user=user, role="member") for user in users
    )
    url = reverse("admin:accounts_account_change", args=[account.pk])

    page = staff_client.get(url).content.decode()
    response = _account_change(staff_client, account, tier="scale")

    assert 'name="memberships-TOTAL_FORMS"' not in page
    assert f'?account__id__exact={account.pk}">301 members: add, change roles, remove</a>' in page
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.tier == "scale"


def test_a_search_by_member_email_counts_each_member_once(staff_client, account, owner, member):
    changelist = reverse("admin:accounts_account_changelist")

    found = staff_client.get(changelist, {"q": "example.com"})

    assert [(a.name, a._member_count) for a in found.context["cl"].result_list] == [
        (account.name, 2)
    ]


def _events(account) -> list[tuple[str, str, str]]:
    return list(
        AccountEvent.objects.filter(account=account)
        .order_by("pk")
        .values_list("action", "actor_email", "subject")
    )


def test_staff_changes_to_name_and_members_are_in_the_accounts_audit_trail(
    staff_client, staff, account, owner
):
    newcomer = User.objects.create_user(email="new@example.com", password=PASSWORD)
    old = account.name

    _account_change(staff_client, account, name="Radbooks Ltd")
    add = reverse("admin:accounts_membership_add")
    added = staff_client.post(
        add, {"account": account.pk, "user": newcomer.pk, "role": "admin", "_continue": "1"}
    )
    joined = Membership.objects.get(account=account, user=newcomer)
    assert added["Location"] == reverse("admin:accounts_membership_change", args=[joined.pk])
    assert LogEntry.objects.get(action_flag=ADDITION).object_id == str(joined.pk)
    change = reverse("admin:accounts_membership_change", args=[joined.pk])
    staff_client.post(change, {**admin_form_data(staff_client.get(change)), "role": "member"})
    delete = reverse("admin:accounts_membership_delete", args=[joined.pk])
    staff_client.post(delete, {"post": "yes"})

    assert _events(account) == [
        ("account_renamed", staff.email, f"{old} → Radbooks Ltd"),
        ("member_joined", staff.email, "new@example.com as admin, added by Cohort staff"),
        ("role_changed", staff.email, "new@example.com: admin → member"),
        ("member_removed", staff.email, "new@example.com"),
    ]


def test_handing_an_account_over_in_one_save_is_in_the_audit_trail(
    staff_client, staff, account, owner, member
):
    url = reverse("admin:accounts_account_change", args=[account.pk])
    data = admin_form_data(staff_client.get(url))
    rows = _membership_rows(data)

    staff_client.post(
        url,
        {
            **data,
            f"memberships-{rows[owner.email]}-role": "member",
            f"memberships-{rows[member.email]}-role": "owner",
        },
    )

    assert _events(account) == [
        ("role_changed", staff.email, f"{member.email}: member → owner"),
        ("role_changed", staff.email, f"{owner.email}: owner → member"),
    ]


def test_deleting_a_login_takes_it_out_of_its_accounts_with_a_trace(
    staff_client, staff, account, owner, member
):
    api_token_create(account=account, user=member, name="back end")

    staff_client.post(reverse("admin:accounts_user_delete", args=[member.pk]), {"post": "yes"})

    assert not User.objects.filter(pk=member.pk).exists()
    actions = [(action, actor) for action, actor, _ in _events(account)]
    assert actions[-2:] == [("token_revoked", staff.email), ("member_removed", staff.email)]
    assert _events(account)[-1][2] == member.email
