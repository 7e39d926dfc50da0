"""Owners invite people by email, change roles and remove members; anyone may leave."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import AccountEvent, ApiToken, Invitation, Membership, User
from apps.accounts.selectors import api_token_authenticate
from apps.accounts.services import api_token_create, invitation_signup
from apps.common.errors import ApplicationError
from tests.common.admin_forms import admin_form_data
from tests.factories import MembershipFactory, UserFactory

# Django's field takes it, but a dotless i cannot go into a mail header's name part.
UNMAILABLE = "y\u0131ld\u0131r\u0131m@firma.com.tr"
NEW = "a-long-passphrase-42"


@pytest.fixture
def page(account):
    return reverse("account:detail", args=[account.slug])


def invite(client, account, email, role="member"):
    return client.post(
        reverse("account:invite", args=[account.slug]), {"email": email, "role": role}
    )


def link() -> str:
    return re.search(r"https?://testserver(/invite/\S+/)", mail.outbox[-1].body)[1]


def role_of(account, user) -> str | None:
    membership = Membership.objects.filter(account=account, user=user).first()
    return membership.role if membership else None


def test_a_newcomer_joins_with_the_mailed_link_and_a_password_of_their_own(
    client, login, account, owner, page
):
    response = invite(login(owner), account, "Newcomer@Example.com", role="admin")

    assert response.status_code == 302
    [message] = mail.outbox
    assert message.to == ["newcomer@example.com"]
    assert message.subject == f"Join {account.name} on Cohort"
    assert f"{owner.email} invites you to join {account.name} on Cohort as admin." in message.body
    listed = login(owner).get(page).content.decode()
    assert 'data-invitation="newcomer@example.com"' in listed
    invited = link()
    client.post(reverse("accounts:logout"))

    form = client.get(invited)
    assert "Choose a password for newcomer@example.com" in form.content.decode()
    weak = client.post(invited, {"password": "123"})
    assert weak.status_code == 400
    assert "This password is too short" in weak.content.decode()
    joined = client.post(invited, {"password": NEW}, follow=True)

    user = User.objects.get(email="newcomer@example.com")
    assert get_user(client) == user
    assert role_of(account, user) == "admin"
    assert joined.redirect_chain[-1][0] == reverse("sites:list", args=[account.slug])
    assert f"Welcome to {account.name}." in joined.content.decode()
    # once only
    client.post(reverse("accounts:logout"))
    again = client.get(invited)
    assert again.status_code == 404
    assert "This invitation no longer works" in again.content.decode()
    events = AccountEvent.objects.filter(account=account).values_list("action", "subject")
    assert ("member_invited", "newcomer@example.com as admin") in events
    assert ("member_joined", "newcomer@example.com as admin") in events
    trail = login(owner).get(reverse("account:audit", args=[account.slug])).content.decode()
    assert re.findall(
        r'<tr data-kind="(\w+)"><td>[^<]+</td><td><span class="badge">\w+</span>'
        r"</td><td>(Member[^<]*)</td>",
        trail,
    ) == [
        ("members", "Member joined"),
        ("members", "Member invited"),
    ]


def test_someone_with_a_login_logs_in_and_joins(client, login, account, owner, other_owner):
    invite(login(owner), account, other_owner.email)
    invited = link()
    client.post(reverse("accounts:logout"))

    asked = client.get(invited).content.decode()
    assert "has a Cohort login: log in with it to join" in asked
    login(other_owner)
    assert f"Join {account.name}</button>" in client.get(invited).content.decode()
    client.post(invited)

    assert role_of(account, other_owner) == "member"
    assert other_owner.memberships.count() == 2  # the other account stays theirs


def test_the_link_is_for_the_invited_address_only(client, login, account, owner, other_owner):
    invite(login(owner), account, "someone@example.com")
    invited = link()
    login(other_owner)

    page = client.get(invited).content.decode()
    refused = client.post(invited, follow=True).content.decode()

    assert f"You are logged in as {other_owner.email}" in page
    assert "This invitation is for someone@example.com" in refused
    assert role_of(account, other_owner) is None


@pytest.mark.parametrize("state", ["expired", "withdrawn", "replaced"])
def test_a_closed_invitation_lets_nobody_in(client, login, account, owner, state):
    invite(login(owner), account, "late@example.com")
    invited = link()
    invitation = Invitation.objects.get(email="late@example.com")
    if state == "expired":
        Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    elif state == "withdrawn":
        url = reverse("account:invitation_revoke", args=[account.slug, invitation.pk])
        assert login(owner).post(url).status_code == 302
    else:
        invite(login(owner), account, "late@example.com")  # a new link replaces it
    client.post(reverse("accounts:logout"))

    response = client.post(invited, {"password": NEW})

    assert response.status_code == 404
    assert not User.objects.filter(email="late@example.com").exists()


def test_members_cannot_be_invited_twice_and_bad_input_is_an_inline_error(
    login, account, owner, member
):
    client = login(owner)

    twice = invite(client, account, member.email.upper())
    bad = invite(client, account, "not-an-email")
    no_role = invite(client, account, "x@example.com", role="boss")

    assert twice.status_code == bad.status_code == no_role.status_code == 400
    assert f"{member.email} is a member of {account.name}." in twice.content.decode()
    assert "Enter a valid email address." in bad.content.decode()
    assert "Select a valid choice." in no_role.content.decode()
    assert mail.outbox == []
    assert not Invitation.objects.exists()


def test_an_owner_changes_roles_but_never_leaves_the_account_without_an_owner(
    login, account, owner, member, page
):
    client = login(owner)
    mine = Membership.objects.get(account=account, user=owner)
    theirs = Membership.objects.get(account=account, user=member)
    role_url = reverse("account:member_role", args=[account.slug, mine.pk])

    refused = client.post(role_url, {"role": "admin"}, follow=True)
    assert "is the only owner of" in refused.content.decode()
    assert role_of(account, owner) == "owner"

    client.post(reverse("account:member_role", args=[account.slug, theirs.pk]), {"role": "owner"})
    assert role_of(account, member) == "owner"
    done = client.post(role_url, {"role": "admin"}, follow=True)

    assert f"{owner.email} is now admin." in done.content.decode()
    assert role_of(account, owner) == "admin"
    same = login(member).post(role_url, {"role": "admin"}, follow=True)
    assert f"{owner.email} is already admin; nothing changed." in same.content.decode()
    assert ("role_changed", f"{member.email}: member → owner") in AccountEvent.objects.values_list(
        "action", "subject"
    )


def test_a_removed_member_loses_access_and_tokens(client, login, account, owner, member, site):
    token, _ = api_token_create(account=account, user=member, name="script")
    theirs = Membership.objects.get(account=account, user=member)
    url = reverse("account:member_remove", args=[account.slug, theirs.pk])

    asked = login(owner).get(url).content.decode()
    assert f"Remove {member.email}?" in asked
    done = login(owner).post(url, follow=True)

    assert f"{member.email} is no longer a member of {account.name}" in done.content.decode()
    assert role_of(account, member) is None
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert login(member).get(reverse("sites:list", args=[account.slug])).status_code == 404


def test_a_token_made_while_its_holder_was_removed_stays_dead_when_they_come_back(
    account, owner, member, site
):
    """A token its holder made as the removal ran (not revoked with the others) must not
    come back to life when the same person is made a member again."""
    theirs = Membership.objects.get(account=account, user=member)
    _, raw = api_token_create(account=account, user=member, name="made as removed")
    theirs.delete()  # the removal, having revoked the tokens that existed before this one
    MembershipFactory(account=account, user=member, role="member")  # made a member again

    assert api_token_authenticate(raw=raw, site_key=site.key) is None
    _, fresh = api_token_create(account=account, user=member, name="new")
    assert api_token_authenticate(raw=fresh, site_key=site.key) is not None


@pytest.mark.parametrize(
    "email",
    [UNMAILABLE, "İ" * 200 + "@example.com"],
    ids=["dotless-i", "longer-in-lower-case"],
)
def test_an_address_mail_cannot_reach_is_refused_not_a_500(login, account, owner, email):
    response = invite(login(owner), account, email)

    assert response.status_code == 400
    assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_anyone_may_leave_but_only_owners_remove_others(login, account, owner, member, admin_user):
    admins = Membership.objects.get(account=account, user=admin_user)
    members = Membership.objects.get(account=account, user=member)

    assert (
        login(member)
        .post(reverse("account:member_remove", args=[account.slug, admins.pk]))
        .status_code
        == 403
    )
    left = login(member).post(
        reverse("account:member_remove", args=[account.slug, members.pk]), follow=True
    )

    assert f"You left {account.name}." in left.content.decode()
    assert role_of(account, member) is None
    assert role_of(account, admin_user) == "admin"


def test_the_only_owner_cannot_leave(login, account, owner, page):
    mine = Membership.objects.get(account=account, user=owner)
    remove_url = reverse("account:member_remove", args=[account.slug, mine.pk])
    assert "Leave…" not in login(owner).get(page).content.decode()
    assert "the only owner" in login(owner).get(page).content.decode()
    asked = login(owner).get(remove_url).content.decode()
    assert f"You are the only owner of {account.name}: make another member owner" in asked
    assert "Leave the account</button>" not in asked

    refused = login(owner).post(
        reverse("account:member_remove", args=[account.slug, mine.pk]), follow=True
    )

    assert "is the only owner of" in refused.content.decode()
    assert role_of(account, owner) == "owner"


def test_admins_and_members_see_the_members_without_controls(login, account, admin_user, page):
    html = login(admin_user).get(page).content.decode()

    assert 'id="members"' in html
    assert 'id="invite"' not in html
    assert "Change role" not in html
    assert "Remove…" not in html
    assert "Leave…" in html


def test_a_new_login_cannot_be_made_for_an_address_that_has_one(client, login, account, owner):
    invite(login(owner), account, "late@example.com")
    invited = link()
    client.post(reverse("accounts:logout"))
    UserFactory(email="late@example.com")  # signed up meanwhile

    response = client.post(invited, {"password": NEW}, follow=True)

    assert "has a Cohort login" in response.content.decode()
    assert User.objects.filter(email="late@example.com").count() == 1
    assert not Membership.objects.filter(account=account, user__email="late@example.com").exists()


def test_an_invitation_that_cannot_be_mailed_keeps_nothing(login, account, owner, settings):
    invite(login(owner), account, "kept@example.com")
    kept = Invitation.objects.get()
    settings.EMAIL_BACKEND = "tests.accounts.failing_mail.UnreachableBackend"

    response = invite(login(owner), account, "kept@example.com")

    assert response.status_code == 400
    assert "could not be mailed (ConnectionRefusedError); nothing was kept" in (
        response.content.decode()
    )
    assert list(Invitation.objects.values_list("pk", "revoked_at")) == [(kept.pk, None)]
    assert AccountEvent.objects.filter(action="member_invited").count() == 1


def test_an_account_name_on_two_lines_still_makes_a_one_line_subject(login, account, owner):
    account.name = "Radbooks\nEurope"
    account.save(update_fields=["name"])

    invite(login(owner), account, "someone@example.com")

    assert mail.outbox[-1].subject == "Join Radbooks Europe on Cohort"


def test_owners_cannot_send_invitations_without_end(login, account, owner, settings):
    settings.COHORT_INVITATIONS_RATE = "2/day"
    for n in range(2):
        assert invite(login(owner), account, f"p{n}@example.com").status_code == 302

    refused = invite(login(owner), account, "p3@example.com")

    assert refused.status_code == 400
    assert f"{account.name} sent too many invitations lately. Try again in" in (
        refused.content.decode()
    )
    assert len(mail.outbox) == 2


def test_the_same_join_sent_twice_makes_one_login(login, account, owner):
    invite(login(owner), account, "twice@example.com")
    invitation = Invitation.objects.get()

    invitation_signup(invitation=invitation, password=NEW)
    with pytest.raises(ApplicationError) as second:
        invitation_signup(invitation=invitation, password=NEW)

    assert second.value.code == "invitation_closed"
    assert User.objects.filter(email="twice@example.com").count() == 1


def test_an_address_that_got_a_login_meanwhile_is_told_to_log_in(login, account, owner):
    invite(login(owner), account, "meanwhile@example.com")
    UserFactory(email="meanwhile@example.com")

    with pytest.raises(ApplicationError) as taken:
        invitation_signup(invitation=Invitation.objects.get(), password=NEW)

    assert taken.value.code == "email_taken"
    assert Invitation.objects.get().accepted_at is None


def test_a_removed_owners_open_invitations_are_withdrawn(client, login, account, owner):
    """An owner about to be removed cannot keep a way back in as owner through an
    invitation of theirs to another address."""
    leaving = MembershipFactory(account=account, role="owner").user
    invite(login(leaving), account, "alt@evil.example", role="owner")
    way_back = link()
    theirs = Membership.objects.get(account=account, user=leaving)

    login(owner).post(reverse("account:member_remove", args=[account.slug, theirs.pk]))

    assert Invitation.objects.get(email="alt@evil.example").revoked_at is not None
    client.logout()
    client.post(way_back, {"password": NEW})
    assert not User.objects.filter(email="alt@evil.example").exists()
    assert ("invitation_revoked", "alt@evil.example") in AccountEvent.objects.values_list(
        "action", "subject"
    )


def test_a_demoted_owners_invitations_above_their_new_role_are_withdrawn(login, account, owner):
    demoted = MembershipFactory(account=account, role="owner").user
    invite(login(demoted), account, "boss@example.com", role="owner")
    invite(login(demoted), account, "helper@example.com", role="admin")
    theirs = Membership.objects.get(account=account, user=demoted)

    login(owner).post(
        reverse("account:member_role", args=[account.slug, theirs.pk]), {"role": "admin"}
    )

    open_ = dict(Invitation.objects.values_list("email", "revoked_at"))
    assert open_["boss@example.com"] is not None
    assert open_["helper@example.com"] is None


def test_a_deactivated_owners_invitations_let_no_one_in(client, login, account, owner):
    """Staff deactivate a login (a compromised owner, someone who left): the invitations
    it sent stop working, so another address of theirs cannot join as owner."""
    leaving = MembershipFactory(account=account, role="owner").user
    invite(login(leaving), account, "accomplice@example.com", role="owner")
    way_in = link()
    client.logout()

    User.objects.filter(pk=leaving.pk).update(is_active=False)  # however it was done
    page = client.get(way_in)
    client.post(way_in, {"password": NEW})

    assert page.status_code == 404  # the page says the invitation no longer works
    assert not User.objects.filter(email="accomplice@example.com").exists()
    assert not Membership.objects.filter(account=account, user__email="accomplice@example.com")


def test_staff_deactivating_a_login_withdraw_its_invitations_on_the_record(
    client, login, account, owner, staff
):
    leaving = MembershipFactory(account=account, role="owner").user
    invite(login(leaving), account, "accomplice@example.com", role="owner")
    client.force_login(staff)
    url = reverse("admin:accounts_user_change", args=[leaving.pk])
    data = admin_form_data(client.get(url))
    data.pop("is_active")  # the box unticked

    client.post(url, data)

    assert not User.objects.get(pk=leaving.pk).is_active
    assert Invitation.objects.get(email="accomplice@example.com").revoked_at is not None
    assert ("invitation_revoked", "accomplice@example.com") in AccountEvent.objects.values_list(
        "action", "subject"
    )


def test_inviting_an_address_again_withdraws_the_first_invitation_on_the_record(
    login, account, owner
):
    client = login(owner)
    invite(client, account, "x@example.com", role="owner")
    invite(client, account, "x@example.com", role="member")

    trail = list(AccountEvent.objects.order_by("pk").values_list("action", "subject"))
    assert trail[-3:] == [
        ("member_invited", "x@example.com as owner"),
        ("invitation_revoked", "x@example.com"),
        ("member_invited", "x@example.com as member"),
    ]
    assert Invitation.objects.filter(email="x@example.com", revoked_at=None).get().role == "member"
