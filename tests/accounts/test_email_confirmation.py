"""A login's address is confirmed by a link mailed to it. Until then the login works,
but Cohort sends no invitations from it and records no DPA confirmation with it."""

import re
import time
from datetime import timedelta

import pytest
from django.core import mail, signing
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Invitation, User
from apps.accounts.services import EMAIL_CONFIRM_SALT, invitation_create
from apps.consent.models import ConsentRecord
from tests.factories import MembershipFactory, SiteFactory, UserFactory

SIGNUP = reverse("accounts:signup")
AGAIN = reverse("accounts:confirm_again")
PASSWORD = "a-long-passphrase-42"
NOTE = 'id="confirm-note"'


def sign_up(client, email="ana@example.com"):
    data = {"email": email, "password": PASSWORD, "account_name": "Ana's Shop"}
    return client.post(SIGNUP, data, follow=True)


def confirm_link() -> str:
    return re.search(r"https?://testserver(/confirm/\S+/)", mail.outbox[-1].body)[1]


@pytest.fixture
def unconfirmed(account):
    user = UserFactory(email="new@example.com", email_confirmed_at=None)
    MembershipFactory(account=account, user=user, role="owner")
    return user


def test_a_sign_up_mails_a_link_that_confirms_the_address(client, db):
    landed = sign_up(client)

    user = User.objects.get(email="ana@example.com")
    assert user.email_confirmed_at is None
    [message] = mail.outbox
    assert message.to == ["ana@example.com"]
    assert message.subject == "Confirm your address for Cohort"
    assert "it works for 7 days" in message.body
    assert NOTE in landed.content.decode()
    assert "open the link Cohort mailed to <strong>ana@example.com</strong>" in (
        landed.content.decode()
    )

    confirmed = client.get(confirm_link(), follow=True)

    user.refresh_from_db()
    assert user.email_confirmed_at is not None
    assert "Thank you: ana@example.com is confirmed." in confirmed.content.decode()
    assert NOTE not in confirmed.content.decode()
    first = user.email_confirmed_at
    client.get(confirm_link())  # opened again: the first time stands
    user.refresh_from_db()
    assert user.email_confirmed_at == first


def test_a_sign_up_whose_mail_fails_still_makes_the_login_and_says_so(client, db, settings):
    settings.EMAIL_BACKEND = "tests.accounts.failing_mail.UnreachableBackend"

    landed = sign_up(client)

    assert User.objects.filter(email="ana@example.com").exists()
    page = landed.content.decode()
    assert "The link to confirm your address could not be mailed" in page
    assert NOTE in page  # with its button to send it again


@pytest.mark.parametrize(
    ("mangle", "problem"),
    [
        (lambda link: link[:-8] + "/", "This link is not whole"),
        (lambda link: link.replace("/confirm/", "/confirm/x"), "This link is not whole"),
    ],
)
def test_a_broken_link_confirms_nothing_and_says_why(client, db, mangle, problem):
    sign_up(client)

    response = client.get(mangle(confirm_link()))

    assert response.status_code == 400
    assert problem in response.content.decode()
    assert "Send a new link to ana@example.com" in response.content.decode()
    assert User.objects.get(email="ana@example.com").email_confirmed_at is None


def test_a_link_older_than_a_week_confirms_nothing(client, unconfirmed, monkeypatch):
    eight_days_ago = time.time() - timedelta(days=8).total_seconds()
    monkeypatch.setattr(signing.time, "time", lambda: eight_days_ago)
    token = signing.dumps(
        {"user": unconfirmed.pk, "email": unconfirmed.email}, salt=EMAIL_CONFIRM_SALT
    )
    monkeypatch.undo()

    response = client.get(reverse("accounts:confirm", args=[token]))

    assert response.status_code == 400
    assert "This link is older than 7 days. Log in and send a new one." in (
        response.content.decode()
    )
    unconfirmed.refresh_from_db()
    assert unconfirmed.email_confirmed_at is None


def test_a_link_for_an_address_the_login_no_longer_has_confirms_nothing(client, unconfirmed):
    token = signing.dumps(
        {"user": unconfirmed.pk, "email": unconfirmed.email}, salt=EMAIL_CONFIRM_SALT
    )
    User.objects.filter(pk=unconfirmed.pk).update(email="changed@example.com")

    response = client.get(reverse("accounts:confirm", args=[token]))

    assert response.status_code == 400
    assert "no Cohort login has now" in response.content.decode()
    assert User.objects.get(pk=unconfirmed.pk).email_confirmed_at is None


def test_an_unconfirmed_owner_cannot_invite_and_nothing_is_sent(login, account, unconfirmed):
    client = login(unconfirmed)

    response = client.post(
        reverse("account:invite", args=[account.slug]),
        {"email": "friend@example.com", "role": "member"},
    )

    assert response.status_code == 400
    assert "Confirm your address first: open the link Cohort mailed to new@example.com" in (
        response.content.decode()
    )
    assert mail.outbox == []
    assert not Invitation.objects.exists()


def test_an_unconfirmed_owner_cannot_confirm_the_dpa(login, account, unconfirmed):
    site = SiteFactory(account=account, user_attributes_enabled=False)

    response = login(unconfirmed).post(
        f"/a/{account.slug}/user-attributes/{site.key}/enable/",
        {"privacy_reviewed": "on", "dpa_signed": "on"},
    )

    assert response.status_code == 400
    assert "Confirm your address first" in response.content.decode()
    site.refresh_from_db()
    assert site.user_attributes_enabled is False
    assert not ConsentRecord.objects.exists()


def test_once_confirmed_the_owner_invites(client, login, account, unconfirmed):
    token = signing.dumps(
        {"user": unconfirmed.pk, "email": unconfirmed.email}, salt=EMAIL_CONFIRM_SALT
    )
    client.get(reverse("accounts:confirm", args=[token]))
    unconfirmed.refresh_from_db()

    invitation = invitation_create(
        account=account,
        email="friend@example.com",
        role="member",
        by=unconfirmed,
        accept_url=lambda raw: f"https://cohort.example/invite/{raw}/",
    )

    assert invitation.email == "friend@example.com"


def test_the_link_is_sent_again_on_request_a_few_times_an_hour(login, unconfirmed, settings):
    settings.COHORT_CONFIRM_MAIL_RATE = "2/h"
    client = login(unconfirmed)

    sent = [client.post(AGAIN, {"next": "/accounts/"}, follow=True) for _ in range(3)]

    assert sent[0].redirect_chain == [("/accounts/", 302)]
    assert "A new link is on its way to new@example.com" in sent[0].content.decode()
    assert len(mail.outbox) == 2
    assert "The link was sent several times lately. Try again in" in sent[2].content.decode()
    client.get(confirm_link())
    unconfirmed.refresh_from_db()
    assert unconfirmed.email_confirmed_at is not None


def send_again_from(client, page) -> object:
    """Press "Send the link again" in the note on `page`, as a browser would: the note's
    form, with the fields it holds, following where it leads."""
    note = re.search(
        r'id="confirm-note">.*?<form method="post" action="([^"]+)">(.*?)</form>', page, re.S
    )
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', note[2]))
    assert set(fields) <= {"csrfmiddlewaretoken", "next"}
    return client.post(note[1], fields, follow=True)


def test_sending_again_from_a_page_goes_back_to_it(login, account, unconfirmed):
    client = login(unconfirmed)
    page = client.get(reverse("account:detail", args=[account.slug])).content.decode()

    answer = send_again_from(client, page)

    assert answer.redirect_chain == [(reverse("account:detail", args=[account.slug]), 302)]
    assert answer.status_code == 200
    assert "A new link is on its way to new@example.com" in answer.content.decode()


def test_sending_again_from_the_answer_to_a_form_goes_home(login, account, unconfirmed):
    """A refused invitation answers at an address that takes forms only: going back there
    would show "This address is not a page"."""
    client = login(unconfirmed)
    refused = client.post(
        reverse("account:invite", args=[account.slug]),
        {"email": "friend@example.com", "role": "member"},
    )
    assert refused.status_code == 400
    assert NOTE in refused.content.decode()

    answer = send_again_from(client, refused.content.decode())

    assert answer.status_code == 200
    assert answer.redirect_chain == [
        ("/", 302),
        (reverse("sites:list", args=[account.slug]), 302),
    ]
    assert "A new link is on its way to new@example.com" in answer.content.decode()
    assert [message.to for message in mail.outbox] == [["new@example.com"]]
    assert not Invitation.objects.exists()


def test_sending_again_from_a_new_tokens_page_goes_home(login, account, unconfirmed):
    client = login(unconfirmed)
    made = client.post(reverse("account:token_create", args=[account.slug]), {"token-name": "ci"})
    assert made.status_code == 200
    assert NOTE in made.content.decode()

    answer = send_again_from(client, made.content.decode())

    assert answer.status_code == 200
    assert answer.redirect_chain[-1] == (reverse("sites:list", args=[account.slug]), 302)


def test_sending_again_goes_back_only_to_this_site(login, unconfirmed):
    response = login(unconfirmed).post(AGAIN, {"next": "https://evil.example/"})

    assert response["Location"] == "/"


def test_a_confirmed_login_is_told_so_and_sent_nothing(login, owner):
    response = login(owner).post(AGAIN, follow=True)

    assert f"{owner.email} is confirmed already." in response.content.decode()
    assert mail.outbox == []


def test_an_invitation_link_confirms_the_address_it_was_mailed_to(client, login, account, owner):
    login(owner).post(
        reverse("account:invite", args=[account.slug]),
        {"email": "friend@example.com", "role": "member"},
    )
    invited = re.search(r"https?://testserver(/invite/\S+/)", mail.outbox[-1].body)[1]
    client.post(reverse("accounts:logout"))

    client.post(invited, {"password": PASSWORD})

    assert User.objects.get(email="friend@example.com").email_confirmed_at is not None


def test_an_invitation_accepted_by_a_login_confirms_its_address(client, login, account, owner):
    friend = UserFactory(email="friend@example.com", email_confirmed_at=None)
    login(owner).post(
        reverse("account:invite", args=[account.slug]),
        {"email": "friend@example.com", "role": "member"},
    )
    invited = re.search(r"https?://testserver(/invite/\S+/)", mail.outbox[-1].body)[1]

    login(friend).post(invited)

    friend.refresh_from_db()
    assert friend.email_confirmed_at is not None


def test_a_password_reset_confirms_the_address(client, unconfirmed):
    client.post(reverse("accounts:password_reset"), {"email": unconfirmed.email})
    link = re.search(r"https?://testserver(/password/reset/\S+/)", mail.outbox[-1].body)[1]
    form = client.get(link, follow=True)
    new = "another-long-passphrase-9"

    client.post(form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})

    unconfirmed.refresh_from_db()
    assert unconfirmed.email_confirmed_at is not None


@pytest.mark.django_db(transaction=True)
def test_logins_made_before_confirmation_existed_count_as_confirmed():
    """The migration that adds the field dates existing logins' confirmation to their
    joining, so that no owner loses what they could do."""
    before = [("accounts", "0007_audit_site_and_data_events")]
    after = [("accounts", "0008_user_email_confirmed_at")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("accounts", "User")
    joined = timezone.now() - timedelta(days=400)
    earlier = old.objects.create(email="early@example.com", password="!", date_joined=joined)

    MigrationExecutor(connection).migrate(after)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())  # as the rest of the suite expects

    assert User.objects.get(pk=earlier.pk).email_confirmed_at == joined
