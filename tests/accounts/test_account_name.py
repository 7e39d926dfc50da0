"""Owners rename their account on the Account page; the rename is in the audit trail."""

import pytest
from django.urls import reverse

from apps.accounts.models import Account, AccountEvent
from apps.accounts.services import account_rename
from tests.locks import held_for_key_share


def _rename(client, account, name):
    return client.post(reverse("account:rename", args=[account.slug]), {"name": name})


def test_an_owner_renames_the_account_and_its_address_stays(login, account, owner):
    client = login(owner)
    page = client.get(reverse("account:detail", args=[account.slug])).content.decode()
    assert f'value="{account.name}"' in page  # the form holds the current name
    old, slug = account.name, account.slug

    response = _rename(client, account, "  Radbooks GmbH ")

    assert response.status_code == 302
    assert response["Location"] == reverse("account:detail", args=[slug])
    account.refresh_from_db()
    assert (account.name, account.slug) == ("Radbooks GmbH", slug)
    event = AccountEvent.objects.get(account=account, action=AccountEvent.Action.RENAMED)
    assert (event.actor, event.actor_email, event.subject) == (
        owner,
        owner.email,
        f"{old} → Radbooks GmbH",
    )
    page = client.get(response["Location"]).content.decode()
    assert "The account is now called Radbooks GmbH." in page
    trail = client.get(reverse("account:audit", args=[slug])).content.decode()
    assert "Account renamed" in trail
    assert f"{old} → Radbooks GmbH" in trail


def test_the_same_name_again_records_nothing_and_says_so(login, account, owner):
    client = login(owner)
    response = _rename(client, account, account.name)

    assert not AccountEvent.objects.filter(action=AccountEvent.Action.RENAMED).exists()
    page = client.get(response["Location"]).content.decode()
    assert f"The account is already called {account.name}; nothing changed." in page


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("   ", "This field is required."),
        ("x" * 121, "at most 120 characters"),
        ("Radbooks. Verify at https://cohort-login.evil.example/", "cannot hold a web address"),
        ("Radbooks www.evil.example", "cannot hold a web address"),
        ("Radbooks\x07", "cannot hold control characters"),
    ],
    ids=["blank", "too_long", "link", "www", "control"],
)
def test_a_bad_name_is_an_inline_error_and_the_old_name_stays(login, account, owner, name, error):
    old = account.name

    response = _rename(login(owner), account, name)

    assert response.status_code == 400
    assert error in response.content.decode()
    assert Account.objects.get(pk=account.pk).name == old
    assert not AccountEvent.objects.exists()


def test_a_name_on_several_lines_is_kept_on_one(login, account, owner):
    """It goes into the subject and body of invitation mails."""
    _rename(login(owner), account, "Radbooks\n\nURGENT:   read   this")

    assert Account.objects.get(pk=account.pk).name == "Radbooks URGENT: read this"


def test_only_owners_see_the_form(login, account, admin_user, member):
    for user in (admin_user, member):
        page = login(user).get(reverse("account:detail", args=[account.slug])).content.decode()
        assert 'id="account-name"' not in page


def test_the_audit_entry_keeps_both_names_whole_at_their_longest(login, account, owner):
    Account.objects.filter(pk=account.pk).update(name="o" * 120)
    account.refresh_from_db()

    _rename(login(owner), account, "n" * 120)

    event = AccountEvent.objects.get(action=AccountEvent.Action.RENAMED)
    assert event.subject == f"{'o' * 120} → {'n' * 120}"


@pytest.mark.django_db(transaction=True)
def test_a_rename_does_not_wait_for_a_foreign_key_check_on_the_account(on_postgres, owner):
    """A role change elsewhere writes its audit event, whose foreign key holds the account
    FOR KEY SHARE, while it holds the owner rows: a rename that locked the account FOR
    UPDATE, then reached the owner rows (the admin's page does both), would deadlock."""
    account = Account.objects.get(memberships__user=owner)
    with held_for_key_share(Account, account.pk):
        renamed = account_rename(account=account, actor=owner, name="Radbooks Ltd")

    assert renamed is True
    assert Account.objects.get(pk=account.pk).name == "Radbooks Ltd"
