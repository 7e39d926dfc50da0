"""Owners rename their account on the Account page; the rename is in the audit trail."""

import pytest
from django import forms
from django.core import mail
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from apps.accounts.forms import account_name_check
from apps.accounts.models import Account, AccountEvent
from apps.accounts.services import account_rename
from tests.common.admin_forms import admin_form_data
from tests.locks import held_for_key_share

PHISHING = "Radbooks. Verify at cohort-login.evil.example/verify"
A_LINK_IN_MAILS = "a link in the invitations Cohort mails"


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
        (PHISHING, f"make “cohort-login.evil.example/verify” {A_LINK_IN_MAILS}"),
        ("Booking.com", f"make “Booking.com” {A_LINK_IN_MAILS}. Leave it out, or put a space"),
        ("Radbooks evil.рф", f"make “evil.рф” {A_LINK_IN_MAILS}"),
        ("Radbooks evil.xn--p1ai", f"make “evil.xn--p1ai” {A_LINK_IN_MAILS}"),
        ("Verify at 198.51.100.7/login", f"make “198.51.100.7/login” {A_LINK_IN_MAILS}"),
        ("Write to billing@evil.example", "cannot hold an email address: mail programs would"),
        ("https:/\u200b/evil.example", "cannot hold invisible formatting characters"),
        ("Radbooks evil.exam\u00adple", "cannot hold invisible formatting characters"),
        ("HTTPS\uff1a//evil.example", "cannot hold a web address."),
        ("\uff48\uff54\uff54\uff50\uff53\uff1a\uff0f\uff0fevil", "cannot hold a web address."),
        ("https:/\u0301/evil", "cannot hold a web address."),
        ("Radbooks evil\uff0eexample", f"make “evil.example” {A_LINK_IN_MAILS}"),
        ("Radbooks evil\u3164.example", "cannot hold a web address"),
        ("Radbooks evil.exa\u200dmple", f"make “evil.exa\u200dmple” {A_LINK_IN_MAILS}"),
    ],
    ids=[
        "blank",
        "too_long",
        "link",
        "www",
        "control",
        "bare_domain_and_path",
        "one_dotted_word_that_is_a_domain",
        "idn_domain",
        "punycode_domain",
        "ip_address",
        "email",
        "zero_width_space",
        "soft_hyphen",
        "full_width_colon",
        "full_width_scheme",
        "combining_mark",
        "full_width_dot",
        "hangul_filler",
        "zero_width_joiner",
    ],
)
def test_a_bad_name_is_an_inline_error_and_the_old_name_stays(login, account, owner, name, error):
    old = account.name

    response = _rename(login(owner), account, name)

    assert response.status_code == 400
    assert error in response.content.decode()
    assert Account.objects.get(pk=account.pk).name == old
    assert not AccountEvent.objects.exists()


@pytest.mark.parametrize(
    "name",
    [
        "Acme Inc.",
        "J.R. Books",
        "Ph.D. Consulting",
        "Müller GmbH & Co. KG",
        "Verein e.V.",
        "Web 2.0 Labs",
        "Ops@Acme",
        "Radbooks™",
        # one dot before a word that is no widely used domain ending
        "Tata Sons Pvt.Ltd",
        "St.Gallen AG",
        "E.ON SE",
        "«Яндекс.Такси»",
        "東京.株式会社",
        "U.S.A. Today",
        "\uff32\uff41\uff44\uff42\uff4f\uff4f\uff4b\uff53",  # full-width, kept as written
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian needs the ZWNJ
    ],
)
def test_names_with_dots_and_other_scripts_are_kept_as_written(login, account, owner, name):
    response = _rename(login(owner), account, name)

    assert response.status_code == 302
    assert Account.objects.get(pk=account.pk).name == name


def test_a_refused_name_never_reaches_the_invitation_mails(login, account, owner):
    client = login(owner)

    refused = _rename(client, account, PHISHING)
    client.post(
        reverse("account:invite", args=[account.slug]),
        {"email": "newcomer@example.com", "role": "member"},
    )

    assert refused.status_code == 400
    [message] = mail.outbox
    assert message.subject == "Join Radbooks on Cohort"
    assert "evil" not in message.body


@pytest.mark.parametrize(
    ("url", "field"),
    [("accounts:signup", "account_name"), ("accounts:new", "account_name")],
    ids=["signup", "new_account"],
)
def test_a_new_account_is_refused_a_bare_domain_too(client, owner, url, field):
    if url == "accounts:new":
        client.force_login(owner)
    before = Account.objects.count()
    data = {"email": "ana@example.com", "password": "a-long-passphrase-42", field: PHISHING}

    response = client.post(reverse(url), data)

    assert response.status_code == 400
    assert f"make “cohort-login.evil.example/verify” {A_LINK_IN_MAILS}" in (
        response.content.decode()
    )
    assert Account.objects.count() == before


@given(
    # any invisible or combining character, anywhere in an address
    st.text(
        st.characters(categories=["Cf", "Mn", "Me"], exclude_characters="\u200c\u200d"),
        min_size=1,
        max_size=3,
    ),
    st.sampled_from(["https://evil.example", "evil.example/verify", "a@evil.example"]),
    st.integers(min_value=0, max_value=20),
)
def test_no_invisible_character_hides_an_address(hidden, address, at):
    at = min(at, len(address))
    with pytest.raises(forms.ValidationError):
        account_name_check(f"Radbooks {address[:at]}{hidden}{address[at:]}")


def test_an_account_named_before_these_rules_shows_and_can_be_renamed(login, account, owner, staff):
    """Names given before the rules stay as they were until renamed; staff can still change
    the plan without touching them, and cannot give such a name themselves."""
    Account.objects.filter(pk=account.pk).update(name=PHISHING)
    owners = login(owner)

    page = owners.get(reverse("account:detail", args=[account.slug]))
    client = Client()
    client.force_login(staff)
    admin_url = reverse("admin:accounts_account_change", args=[account.pk])
    data = admin_form_data(client.get(admin_url))
    plan_changed = client.post(admin_url, {**data, "tier": "scale"})
    staff_naming = client.post(admin_url, {**data, "name": "Write to billing@evil.example"})
    renamed = _rename(owners, account, "Radbooks")

    assert page.status_code == 200
    assert f'value="{PHISHING}"' in page.content.decode()
    assert plan_changed.status_code == 302
    assert staff_naming.status_code == 200
    assert "cannot hold an email address" in staff_naming.content.decode()
    assert renamed.status_code == 302
    account.refresh_from_db()
    assert (account.name, account.tier) == ("Radbooks", "scale")


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
