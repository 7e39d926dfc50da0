"""Sign up: a user, their account on Basic / V2, owner membership and the first plan entry."""

import re

import pytest
from django.contrib.auth import get_user
from django.urls import reverse

from apps.accounts.models import Account, Membership, User
from apps.accounts.services import user_signup
from apps.billing.models import PlanChange
from apps.common.errors import ApplicationError

# Django's field takes it, but a dotless i cannot go into a mail header's name part.
UNMAILABLE = "y\u0131ld\u0131r\u0131m@firma.com.tr"
SIGNUP = reverse("accounts:signup")
VALID = {
    "email": "Ana@Example.com",
    "password": "a-long-passphrase-42",
    "account_name": "Ana's Shop",
}


def _counts() -> tuple[int, int, int, int]:
    return (
        User.objects.count(),
        Account.objects.count(),
        Membership.objects.count(),
        PlanChange.objects.count(),
    )


@pytest.mark.django_db
def test_signup_creates_user_account_owner_and_plan_entry_and_logs_in(client, other_owner):
    # given another tenant already exists
    before = _counts()

    # when someone signs up
    response = client.post(SIGNUP, VALID)

    # then they own a new Basic / V2 account, are logged in, and land on "add a site"
    user = User.objects.get(email="ana@example.com")
    account = Account.objects.get(memberships__user=user)
    assert response.status_code == 302
    assert response["Location"] == reverse("sites:create", args=[account.slug])
    assert (account.name, account.slug) == ("Ana's Shop", "anas-shop")
    assert (account.tier, account.billing_version) == ("basic", 2)
    assert list(account.memberships.values_list("user", "role")) == [(user.pk, "owner")]
    change = PlanChange.objects.get(account=account)
    assert (change.source, change.changed_by) == (PlanChange.Source.SIGNUP, user)
    assert (change.from_tier, change.to_tier) == ("", "basic")
    assert (change.from_billing_version, change.to_billing_version) == (None, 2)
    assert get_user(client) == user
    assert user.check_password("a-long-passphrase-42")
    assert _counts() == tuple(n + 1 for n in before)


@pytest.mark.django_db
def test_two_accounts_with_the_same_name_get_distinct_slugs(client, account):
    # given the fixture account is named Radbooks (slug radbooks)
    response = client.post(SIGNUP, {**VALID, "account_name": "Radbooks"})

    assert response.status_code == 302
    assert set(Account.objects.values_list("slug", flat=True)) == {"radbooks", "radbooks-2"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"email": "OWNER@example.com"},
            "email",
            "An account with this email already exists. Log in.",
        ),
        ({"password": "password"}, "password", "This password is too common."),
        ({"password": "730194826351"}, "password", "This password is entirely numeric."),
        (
            {"password": "Zq8-x"},
            "password",
            "This password is too short. It must contain at least 8 characters.",
        ),
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        (
            {"email": "a" * 243 + "@example.com"},
            "email",
            "Ensure this value has at most 254 characters (it has 255).",
        ),
        (
            {"email": "a" * 230 + "İ" * 12 + "@example.com"},  # 266 characters in lower case
            "email",
            "An email address has at most 254 characters.",
        ),
        ({"email": ""}, "email", "This field is required."),
        ({"password": ""}, "password", "This field is required."),
        ({"account_name": ""}, "account_name", "This field is required."),
    ],
    ids=[
        "duplicate-email",
        "common-password",
        "numeric-password",
        "short-password",
        "bad-email",
        "email-longer-than-the-column",
        "email-longer-than-the-column-in-lower-case",
        "missing-email",
        "missing-password",
        "missing-account-name",
    ],
)
def test_invalid_signup_shows_the_error_inline_and_creates_nothing(
    client, other_owner, data, field, message
):
    # given an existing user (owner@example.com) in one account and another tenant
    User.objects.create_user(email="owner@example.com", password="x-long-passphrase-1")
    before = _counts()

    # when the form is sent with one bad field
    response = client.post(SIGNUP, {**VALID, **data})

    # then the page comes back with the error next to the field, and nothing was created
    assert response.status_code == 400
    assert response.context["form"].errors[field] == [message]
    assert message.replace("'", "&#x27;") in response.content.decode()
    assert _counts() == before
    assert not get_user(client).is_authenticated


@pytest.mark.django_db
def test_a_good_password_sent_back_blank_asks_to_be_typed_again(client, other_owner):
    """Another field's error brings the page back without the password: the box says
    so, rather than look filled when it is not."""
    response = client.post(SIGNUP, {**VALID, "account_name": ""})

    errors = response.context["form"].errors
    assert errors["password"] == ["Type your password again: it is not sent back."]
    assert errors["account_name"] == ["This field is required."]
    assert 'name="password"' in response.content.decode()
    assert 'value="' + VALID["password"] not in response.content.decode()


@pytest.mark.django_db
def test_an_empty_signup_post_reports_every_required_field(client, other_owner):
    before = _counts()

    response = client.post(SIGNUP, {})

    assert response.status_code == 400
    assert response.context["form"].is_bound
    assert response.context["form"].errors == {
        "email": ["This field is required."],
        "password": ["This field is required."],
        "account_name": ["This field is required."],
    }
    assert "This field is required." in response.content.decode()
    assert _counts() == before
    assert not get_user(client).is_authenticated


@pytest.mark.django_db
def test_signup_page_for_a_logged_in_user_goes_home(client, owner):
    client.force_login(owner)

    response = client.get(SIGNUP)

    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_one_network_signing_up_again_and_again_meets_a_wall(client, settings, db):
    settings.COHORT_SIGNUP_RATE_PER_CLIENT = "2/h"
    for n in range(2):
        client.post(SIGNUP, {**VALID, "email": f"farm{n}@example.com"})
        client.logout()

    refused = client.post(SIGNUP, {**VALID, "email": "farm9@example.com"})

    assert refused.status_code == 429
    assert re.search(
        r"Too many sign-ups from your network\. Try again in \d+ (minutes|seconds)\.",
        refused.content.decode(),
    )
    assert not User.objects.filter(email="farm9@example.com").exists()


@pytest.mark.django_db
def test_each_field_names_its_help_and_errors_for_screen_readers(client):
    page = client.post(SIGNUP, {**VALID, "password": "1234"}).content.decode()

    password = re.search(r"<input[^>]*name=\"password\"[^>]*>", page)[0]
    assert 'aria-invalid="true"' in password
    described = re.search(r'aria-describedby="([^"]+)"', password)[1].split()
    assert described == ["id_password_helptext", "id_password_error"]
    help_text = re.search(r'<p class="help" id="id_password_helptext">([^<]+)</p>', page)[1]
    assert help_text.startswith("At least 8 characters")
    errors = re.search(r'<div id="id_password_error">(.*?)</div>', page, re.S)[1]
    assert "This password is too short" in errors


NEW_ACCOUNT = reverse("accounts:new")


def test_a_user_without_an_account_is_offered_a_new_one(client, db):
    user = User.objects.create_user(email="left@example.com", password=VALID["password"])
    client.force_login(user)

    home = client.get(reverse("home"))
    response = client.post(NEW_ACCOUNT, {"account_name": "Second go"}, follow=True)

    assert f'href="{NEW_ACCOUNT}">Start a new account</a>' in home.content.decode()
    account = Account.objects.get(name="Second go")
    membership = Membership.objects.get(account=account)
    assert (membership.user, membership.role) == (user, Membership.Role.OWNER)
    assert (account.tier, account.billing_version) == ("basic", 2)
    assert PlanChange.objects.get(account=account).source == PlanChange.Source.SIGNUP
    assert response.redirect_chain[-1][0] == reverse("sites:create", args=[account.slug])
    assert "Second go is ready: add your site." in response.content.decode()


def test_a_member_of_an_account_starts_another_from_the_account_list(client, owner, account):
    client.force_login(owner)

    listed = client.get(reverse("accounts:switch")).content.decode()
    client.post(NEW_ACCOUNT, {"account_name": "Side project"})

    assert f'href="{NEW_ACCOUNT}">Start a new account</a>' in listed
    assert set(Membership.objects.filter(user=owner).values_list("account__name", flat=True)) == {
        account.name,
        "Side project",
    }


def test_a_new_account_needs_a_name_and_a_log_in(client, owner):
    anonymous = client.post(NEW_ACCOUNT, {"account_name": "X"})
    client.force_login(owner)
    before = _counts()

    blank = client.post(NEW_ACCOUNT, {"account_name": "  "})

    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("accounts:login"))
    assert blank.status_code == 400
    assert "This field is required." in blank.content.decode()
    assert _counts() == before


def test_new_accounts_are_counted_with_sign_ups(client, owner, settings):
    settings.COHORT_SIGNUP_RATE_PER_CLIENT = "1/h"
    client.force_login(owner)
    client.post(NEW_ACCOUNT, {"account_name": "One"})

    refused = client.post(NEW_ACCOUNT, {"account_name": "Two"})

    assert refused.status_code == 429
    assert "Too many new accounts from your network." in refused.content.decode()
    assert not Account.objects.filter(name="Two").exists()


@pytest.mark.django_db
def test_a_second_signup_of_one_address_at_the_same_moment_is_told_to_log_in(db):
    """The form's check that the address is free and the insert are apart: the insert
    that comes second is answered as the form would, not with a 500."""
    user_signup(email="twice@example.com", password="a-long-passphrase-42", account_name="A")

    with pytest.raises(ApplicationError) as refused:
        user_signup(email="twice@example.com", password="a-long-passphrase-42", account_name="B")

    assert refused.value.code == "email_taken"
    assert User.objects.filter(email="twice@example.com").count() == 1


@pytest.mark.django_db
def test_a_signup_address_mail_cannot_reach_is_refused(client, other_owner):
    response = client.post(SIGNUP, {**VALID, "email": UNMAILABLE})

    assert response.status_code == 400
    assert "Mail cannot be sent to this address" in response.content.decode()
