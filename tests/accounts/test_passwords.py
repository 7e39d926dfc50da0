"""Changing a password, and setting a new one through a link sent by email."""

import re

import pytest
from django.contrib.auth import get_user
from django.core import mail
from django.urls import reverse

from tests.factories import PASSWORD, UserFactory

LOGIN = reverse("accounts:login")
RESET = reverse("accounts:password_reset")
SENT = reverse("accounts:password_reset_sent")
CHANGE = reverse("accounts:password_change")
NEW = "a-new-long-passphrase-77"


@pytest.fixture
def user(db):
    return UserFactory(email="ana@example.com")


def reset_link() -> str:
    [message] = mail.outbox
    return re.search(r"https?://testserver(/password/reset/\S+/)", message.body)[1]


def logs_in(client, password) -> bool:
    response = client.post(LOGIN, {"username": "ana@example.com", "password": password})
    return response.status_code == 302


def test_the_login_page_leads_to_a_reset_link(client):
    assert f'href="{RESET}">Forgot your password?</a>' in client.get(LOGIN).content.decode()


def test_a_reset_link_sets_a_new_password_once(client, user):
    response = client.post(RESET, {"email": "Ana@Example.com"})

    assert response.status_code == 302
    assert response["Location"] == SENT
    [message] = mail.outbox
    assert message.to == ["ana@example.com"]
    assert message.subject == "Set a new password for Cohort"
    link = reset_link()
    form = client.get(link, follow=True)
    assert 'name="new_password1"' in form.content.decode()
    assert (
        '<p class="help" id="id_new_password1_helptext">At least 8 characters, not entirely '
        "numeric, not a common password.</p>"
    ) in form.content.decode()

    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW}, follow=True
    )

    assert done.redirect_chain[-1][0] == LOGIN
    assert "Your new password is set" in done.content.decode()
    assert not logs_in(client, PASSWORD)
    assert logs_in(client, NEW)
    client.post(reverse("accounts:logout"))
    again = client.get(link, follow=True).content.decode()
    assert "This link no longer works" in again


def test_an_unknown_address_gets_the_same_answer_and_no_mail(client, user):
    response = client.post(RESET, {"email": "nobody@example.com"}, follow=True)

    assert response.redirect_chain == [(SENT, 302)]
    assert "If a Cohort login uses that address" in response.content.decode()
    assert mail.outbox == []


def test_one_client_asking_again_and_again_is_told_to_wait(client, user, settings):
    settings.COHORT_PASSWORD_RESET_RATE_PER_EMAIL = "2/h"
    for _ in range(2):
        assert client.post(RESET, {"email": "ana@example.com"}).status_code == 302

    refused = client.post(RESET, {"email": "ana@example.com"})

    assert refused.status_code == 429
    assert re.search(
        r"Too many requests for a link\. Try again in \d+ (minutes|seconds)\.",
        refused.content.decode(),
    )
    assert len(mail.outbox) == 2


def test_others_asking_for_someones_links_do_not_keep_them_from_their_own(client, user, settings):
    settings.COHORT_PASSWORD_RESET_RATE_PER_EMAIL = "2/h"
    for _ in range(3):
        client.post(RESET, {"email": "ana@example.com"}, REMOTE_ADDR="203.0.113.9")

    own = client.post(RESET, {"email": "ana@example.com"}, REMOTE_ADDR="198.51.100.7")

    assert own.status_code == 302
    assert len(mail.outbox) == 3


def test_nobody_fills_an_inbox_with_links(client, user, settings):
    """From many clients together an inbox takes four times the per-address rate."""
    settings.COHORT_PASSWORD_RESET_RATE_PER_EMAIL = "2/h"
    answers = [
        client.post(RESET, {"email": "ana@example.com"}, REMOTE_ADDR=f"192.0.2.{n}").status_code
        for n in range(10)
    ]

    assert answers == [302] * 8 + [429] * 2
    assert len(mail.outbox) == 8


def test_a_bad_new_password_is_an_inline_error(client, user):
    client.post(RESET, {"email": "ana@example.com"})
    form = client.get(reset_link(), follow=True)

    response = client.post(
        form.redirect_chain[-1][0], {"new_password1": "123", "new_password2": "123"}
    )

    assert response.status_code == 200
    assert "This password is too short" in response.content.decode()
    assert logs_in(client, PASSWORD)


def test_after_a_reset_the_wrong_guesses_before_it_keep_nobody_out(client, user, settings):
    settings.COHORT_LOGIN_RATE_PER_EMAIL = "3/h"
    for _ in range(3):
        logs_in(client, "forgotten-1")
    assert (
        client.post(LOGIN, {"username": "ana@example.com", "password": PASSWORD}).status_code == 429
    )
    client.post(RESET, {"email": "ana@example.com"})
    form = client.get(reset_link(), follow=True)
    client.post(form.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW})

    assert logs_in(client, NEW)


def test_changing_the_password_keeps_this_browser_and_logs_out_the_others(client, user):
    other = client.__class__()
    assert logs_in(other, PASSWORD)
    assert logs_in(client, PASSWORD)

    wrong = client.post(
        CHANGE, {"old_password": "guess-1234", "new_password1": NEW, "new_password2": NEW}
    )
    assert "Your old password was entered incorrectly" in wrong.content.decode()

    response = client.post(
        CHANGE, {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW}, follow=True
    )

    assert "Your password is changed." in response.content.decode()
    assert get_user(client) == user
    assert not get_user(other).is_authenticated
    assert logs_in(client.__class__(), NEW)


def test_changing_the_password_needs_a_login(client):
    response = client.get(CHANGE)

    assert response.status_code == 302
    assert response["Location"].startswith(f"{LOGIN}?next=")


def test_an_open_session_is_no_way_to_guess_the_password(client, user, settings):
    settings.COHORT_LOGIN_RATE_PER_EMAIL = "3/h"
    assert logs_in(client, PASSWORD)
    for n in range(3):
        client.post(
            CHANGE, {"old_password": f"guess-{n}", "new_password1": NEW, "new_password2": NEW}
        )

    refused = client.post(
        CHANGE, {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW}
    )

    assert refused.status_code == 429
    assert "Too many wrong passwords. Try again in" in refused.content.decode()
    assert user.__class__.objects.get(pk=user.pk).check_password(PASSWORD)


def test_staff_change_their_password_where_wrong_guesses_are_counted(client, staff):
    """The admin's own "Change password" page counted no wrong old password: a staff
    session left open could guess the password without end, then change it. It leads
    to the page that counts them, and changes nothing itself."""
    client.force_login(staff)
    admin_page = reverse("admin:password_change")
    right = {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW}

    shown = client.get(admin_page)
    sent = client.post(admin_page, right)

    assert (shown.status_code, shown["Location"]) == (302, CHANGE)
    assert (sent.status_code, sent["Location"]) == (302, CHANGE)
    staff.refresh_from_db()
    assert staff.check_password(PASSWORD)
    assert "Change the password" in client.get(CHANGE).content.decode()
