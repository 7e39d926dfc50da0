"""Log in / out, the account switcher, and `home` sending users to the account they used."""

import re

import pytest
from django.contrib.auth import get_user
from django.urls import reverse

from apps.accounts.models import Membership
from tests.factories import PASSWORD, MembershipFactory, UserFactory

LOGIN = reverse("accounts:login")
LOGOUT = reverse("accounts:logout")
HOME = reverse("home")


@pytest.fixture
def user(db):
    return UserFactory(email="ana@example.com")


def test_login_with_email_and_password_goes_home(client, user, other_owner):
    response = client.post(LOGIN, {"username": "Ana@Example.com", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == HOME
    assert get_user(client) == user


def test_login_follows_next(client, user, account):
    next_url = reverse("billing:plan", args=[account.slug])

    response = client.post(LOGIN, {"username": user.email, "password": PASSWORD, "next": next_url})

    assert response["Location"] == next_url


@pytest.mark.parametrize("next_url", [LOGIN, f"{LOGIN}?next=/", f"http://testserver{LOGIN}"])
def test_a_logged_in_person_sent_to_the_log_in_page_itself_goes_home(client, user, next_url):
    """A `next` leading back to the log-in page was a 500 (Django's redirection loop)."""
    client.force_login(user)

    response = client.get(LOGIN, {"next": next_url})

    assert (response.status_code, response["Location"]) == (302, HOME)


def test_wrong_password_shows_an_inline_error(client, user):
    response = client.post(LOGIN, {"username": user.email, "password": "wrong-password"})

    assert response.status_code == 200
    assert "Email or password is wrong. Try again." in response.content.decode()
    assert not get_user(client).is_authenticated


def test_logout_is_a_post_and_lands_on_login(client, user):
    """Opened as a page, the address asks first: a link could log anyone out."""
    client.force_login(user)

    asked = client.get(LOGOUT)
    still_in = get_user(client).is_authenticated
    response = client.post(LOGOUT)

    assert asked.status_code == 200
    assert f'<form method="post" action="{LOGOUT}">' in asked.content.decode()
    assert "Log out of Cohort?" in asked.content.decode()
    assert still_in is True
    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert not get_user(client).is_authenticated


def test_anonymous_home_goes_to_login(client):
    response = client.get(HOME)

    assert response.status_code == 302
    assert response["Location"] == LOGIN


@pytest.fixture
def two_accounts(user, account, other_account):
    MembershipFactory(user=user, account=account, role=Membership.Role.OWNER)
    MembershipFactory(user=user, account=other_account, role=Membership.Role.MEMBER)
    return account, other_account


def test_user_in_two_accounts_sees_both_in_the_switcher_and_opens_each(client, user, two_accounts):
    # given a user who owns Radbooks and is a member of Other Co, and an account of strangers
    radbooks, other_co = two_accounts
    MembershipFactory(account__name="Strangers", account__slug="strangers")
    client.force_login(user)

    # when they open the switcher page and each account
    switcher = client.get(reverse("accounts:switch"))
    pages = [client.get(reverse("sites:list", args=[a.slug])) for a in (radbooks, other_co)]

    # then both accounts are listed (and no other) and both open
    assert switcher.status_code == 200
    assert [(m.account.slug, m.role) for m in switcher.context["memberships"]] == [
        ("other-co", "member"),
        ("radbooks", "owner"),
    ]
    assert "Strangers" not in switcher.content.decode()
    for page, account in zip(pages, (radbooks, other_co), strict=True):
        assert page.status_code == 200
        assert page.context["current_account"] == account
        menu = [m.account.slug for m in page.context["user_memberships"]]
        assert menu == ["other-co", "radbooks"]
        html = page.content.decode()
        assert 'href="/a/radbooks/sites/"' in html
        assert 'href="/a/other-co/sites/"' in html
        assert 'href="/a/strangers/sites/"' not in html
        assert f'href="{reverse("accounts:switch")}">All accounts</a>' in html


def test_home_goes_to_the_last_account_used(client, user, two_accounts):
    radbooks, other_co = two_accounts
    client.force_login(user)

    first = client.get(HOME)
    client.get(reverse("billing:plan", args=[other_co.slug]))
    after_other = client.get(HOME)
    client.get(reverse("sites:list", args=[radbooks.slug]))
    after_radbooks = client.get(HOME)

    # the first visit goes to the first account by name
    assert first["Location"] == reverse("sites:list", args=["other-co"])
    assert after_other["Location"] == reverse("sites:list", args=["other-co"])
    assert after_radbooks["Location"] == reverse("sites:list", args=["radbooks"])


def test_home_ignores_a_remembered_account_the_user_left(client, user, two_accounts):
    _radbooks, other_co = two_accounts
    client.force_login(user)
    client.get(reverse("sites:list", args=[other_co.slug]))
    Membership.objects.filter(user=user, account=other_co).delete()

    response = client.get(HOME)

    assert response["Location"] == reverse("sites:list", args=["radbooks"])


def test_home_for_a_user_without_accounts_explains_what_to_do(client, user, other_owner):
    client.force_login(user)

    response = client.get(HOME)

    assert response.status_code == 200
    assert "You are not in any account" in response.content.decode()


def test_guessing_a_password_meets_a_wall_even_with_the_right_one(client, user, settings):
    settings.COHORT_LOGIN_RATE_PER_EMAIL = "3/h"
    for _ in range(3):
        wrong = client.post(LOGIN, {"username": "ana@example.com", "password": "guess-1234"})
        assert wrong.status_code == 200
        assert "Email or password is wrong" in wrong.content.decode()

    refused = client.post(LOGIN, {"username": "Ana@Example.com", "password": PASSWORD})

    assert refused.status_code == 429
    assert re.search(
        r"Too many attempts to log in\. Try again in \d+ (minutes|seconds)\.",
        refused.content.decode(),
    )
    assert not get_user(client).is_authenticated


def test_guesses_from_elsewhere_do_not_lock_the_person_out(client, user, settings):
    settings.COHORT_LOGIN_RATE_PER_EMAIL = "3/h"
    for _ in range(5):
        client.post(
            LOGIN,
            {"username": "ana@example.com", "password": "guess-1234"},
            REMOTE_ADDR="203.0.113.9",
        )

    own = client.post(LOGIN, {"username": "ana@example.com", "password": PASSWORD})

    assert own.status_code == 302
    assert get_user(client) == user


def test_one_client_guessing_many_emails_meets_a_wall(client, user, settings):
    settings.COHORT_LOGIN_RATE_PER_CLIENT = "5/h"
    for n in range(5):
        client.post(LOGIN, {"username": f"someone{n}@example.com", "password": "guess-1234"})

    refused = client.post(LOGIN, {"username": "ana@example.com", "password": PASSWORD})

    assert refused.status_code == 429
    assert not get_user(client).is_authenticated


def test_the_admin_log_in_counts_attempts_too(client, settings, db):
    settings.COHORT_LOGIN_RATE_PER_EMAIL = "2/h"
    staff = UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)
    url = reverse("admin:login")
    for _ in range(2):
        client.post(url, {"username": staff.email, "password": "guess-1234"})

    refused = client.post(url, {"username": staff.email, "password": PASSWORD})

    assert "Too many attempts to log in" in refused.content.decode()
    assert not get_user(client).is_authenticated


def test_logging_in_often_with_the_right_password_is_never_refused(client, user, settings):
    settings.COHORT_LOGIN_RATE_PER_EMAIL = "3/h"
    settings.COHORT_LOGIN_RATE_PER_CLIENT = "3/h"
    for _ in range(5):
        own = client.post(LOGIN, {"username": "ana@example.com", "password": PASSWORD})
        assert own.status_code == 302
        client.post(LOGOUT)

    client.post(LOGIN, {"username": "ana@example.com", "password": "guess-1234"})
    again = client.post(LOGIN, {"username": "ana@example.com", "password": PASSWORD})

    assert again.status_code == 302
    assert get_user(client) == user


def test_colleagues_behind_one_address_all_log_in(client, settings, db):
    settings.COHORT_LOGIN_RATE_PER_CLIENT = "3/h"
    colleagues = [UserFactory(email=f"colleague{n}@example.com") for n in range(6)]
    for colleague in colleagues:
        response = client.post(LOGIN, {"username": colleague.email, "password": PASSWORD})
        assert response.status_code == 302
        assert get_user(client) == colleague
        client.post(LOGOUT)


def test_a_success_does_not_wipe_the_wrong_guesses_before_it(client, user, settings):
    settings.COHORT_LOGIN_RATE_PER_EMAIL = "3/h"
    for _ in range(2):
        client.post(LOGIN, {"username": "ana@example.com", "password": "guess-1234"})
    assert (
        client.post(LOGIN, {"username": "ana@example.com", "password": PASSWORD}).status_code == 302
    )
    client.post(LOGOUT)

    client.post(LOGIN, {"username": "ana@example.com", "password": "guess-1234"})
    refused = client.post(LOGIN, {"username": "ana@example.com", "password": PASSWORD})

    assert refused.status_code == 429
