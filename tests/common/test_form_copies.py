"""Forms that create something make it once per copy sent with the same content: a double
click or a reload of the answer leads to what the first sending made; a copy changed and
sent again (the person went back) makes another."""

import re
import threading

from django.core import mail
from django.core.cache import cache
from django.test import override_settings

from apps.accounts.models import Account, Invitation
from apps.common import once
from apps.common.tenancy import SESSION_ACCOUNT_KEY
from apps.feedback_targeting.models import Widget
from apps.sites.models import Site
from apps.user_attributes.models import ValueType
from tests.factories import AttributeKeyFactory
from tests.feedback_targeting.test_pages import builder_post
from tests.feedback_targeting.test_pages import url as widget_url


def form_id_in(page: str, name: str = "form_id") -> str:
    return re.search(rf'name="{name}" value="([0-9a-f]{{32}})"', page)[1]


def claimed(scope: str, form_id: str, content) -> None:
    """A sending of this copy of the form that has not finished (another process's)."""
    cache.add(once._key(scope, form_id, content), "-")


def messages_of(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def test_a_new_account_form_sent_twice_starts_one_account(login, owner, account):
    client = login(owner)
    form_id = form_id_in(client.get("/accounts/new/").content.decode())
    data = {"account_name": "Second Team", "form_id": form_id}

    first = client.post("/accounts/new/", data)
    again = client.post("/accounts/new/", data, follow=True)

    made = Account.objects.get(name="Second Team")
    assert Account.objects.filter(name__startswith="Second Team").count() == 1
    assert first["Location"] == f"/a/{made.slug}/sites/new/"
    assert again.redirect_chain == [(f"/a/{made.slug}/sites/new/", 302)]
    assert "That form was sent twice; Second Team was started once." in messages_of(again)
    assert client.session[SESSION_ACCOUNT_KEY] == made.slug


def test_a_new_account_form_changed_and_sent_again_starts_another(login, owner, account):
    client = login(owner)
    form_id = form_id_in(client.get("/accounts/new/").content.decode())

    client.post("/accounts/new/", {"account_name": "Second Team", "form_id": form_id})
    client.post("/accounts/new/", {"account_name": "Third Team", "form_id": form_id})

    assert set(Account.objects.values_list("name", flat=True)) == {
        "Radbooks",
        "Second Team",
        "Third Team",
    }


def test_a_new_account_form_refused_keeps_its_copy_for_the_next_sending(login, owner, account):
    client = login(owner)
    form_id = form_id_in(client.get("/accounts/new/").content.decode())

    refused = client.post("/accounts/new/", {"account_name": "", "form_id": form_id})
    client.post("/accounts/new/", {"account_name": "Second Team", "form_id": form_id})

    assert refused.status_code == 400
    assert form_id_in(refused.content.decode()) == form_id
    assert Account.objects.filter(name="Second Team").exists()


def test_each_new_account_page_carries_a_new_copy(login, owner, account):
    client = login(owner)

    first = form_id_in(client.get("/accounts/new/").content.decode())
    second = form_id_in(client.get("/accounts/new/").content.decode())

    assert first != second


def test_an_add_a_site_form_sent_twice_makes_one_site(login, owner, account):
    client = login(owner)
    page = client.get(f"/a/{account.slug}/sites/new/").content.decode()
    data = {
        "name": "Blog",
        "allowed_origins": "https://blog.example",
        "form_id": form_id_in(page),
    }

    client.post(f"/a/{account.slug}/sites/new/", data)
    again = client.post(f"/a/{account.slug}/sites/new/", data, follow=True)

    site = Site.objects.get(account=account, name="Blog")
    assert again.redirect_chain == [(f"/a/{account.slug}/sites/{site.key}/", 302)]
    assert "That form was sent twice; Blog was created once." in messages_of(again)


def test_the_site_settings_form_carries_no_copy_of_the_add_form(login, owner, site):
    page = login(owner).get(f"/a/{site.account.slug}/sites/{site.key}/").content.decode()

    assert 'name="form_id"' not in page


def test_a_new_widget_sent_twice_makes_one_widget(login, owner, site):
    for key, type_ in [("total_spend", ValueType.NUMBER), ("first_purchase", ValueType.DATE)]:
        AttributeKeyFactory(site=site, key=key, value_type=type_)
    client = login(owner)
    form_id = form_id_in(client.get(widget_url(site, "new", query="?kind=poll")).content.decode())
    data = builder_post(form_id=form_id)

    client.post(widget_url(site, "new"), data)
    again = client.post(widget_url(site, "new"), data, follow=True)

    widget = Widget.objects.get(site=site)
    assert again.redirect_chain == [(widget_url(site, widget.pk), 302)]
    assert "That form was sent twice; “Paying customers” was saved once." in messages_of(again)
    assert 'name="form_id"' not in again.content.decode()  # the saved widget's builder
    client.post(widget_url(site, "new"), builder_post(form_id=form_id, name="Another"))
    assert sorted(Widget.objects.values_list("name", flat=True)) == ["Another", "Paying customers"]


def test_a_copy_still_being_made_elsewhere_leads_to_the_list(login, owner, account, monkeypatch):
    """The first sending has claimed the copy but not finished within the wait: the
    second is not made again, and is told where the thing will appear."""
    monkeypatch.setattr(once, "WAIT_SECONDS", 0.1)
    client = login(owner)
    form_id = form_id_in(client.get(f"/a/{account.slug}/sites/new/").content.decode())
    claimed(f"site:{account.pk}:{owner.pk}", form_id, ("Blog", []))

    response = client.post(
        f"/a/{account.slug}/sites/new/", {"name": "Blog", "form_id": form_id}, follow=True
    )

    assert not Site.objects.filter(name="Blog").exists()
    assert response.redirect_chain == [(f"/a/{account.slug}/sites/", 302)]
    assert "That form was sent already: its site is listed here once made." in (
        messages_of(response)
    )


def test_an_invitation_still_being_mailed_is_not_said_to_have_gone(
    login, owner, account, monkeypatch
):
    """The first sending waits for a slow mail server (and may yet fail): the second
    does not claim the invitation went."""
    monkeypatch.setattr(once, "WAIT_SECONDS", 0.1)
    client = login(owner)
    page = client.get(f"/a/{account.slug}/account/").content.decode()
    form_id = form_id_in(page)
    claimed(f"invite:{account.pk}:{owner.pk}", form_id, ("friend@example.com", "member"))

    response = client.post(
        f"/a/{account.slug}/account/members/invite/",
        {"email": "friend@example.com", "role": "member", "form_id": form_id},
        follow=True,
    )

    said = messages_of(response)
    assert "still being sent: reload this page in a moment to see whether" in said
    assert "one invitation went" not in said
    assert not Invitation.objects.exists()


def test_a_site_deletion_still_under_way_is_not_said_to_be_done(
    login, owner, account, site, monkeypatch
):
    monkeypatch.setattr(once, "WAIT_SECONDS", 0.1)
    client = login(owner)
    page = client.get(f"/a/{account.slug}/sites/{site.key}/delete/").content.decode()
    form_id = form_id_in(page)
    claimed(f"site-delete:{account.pk}:{owner.pk}", form_id, site.key)

    response = client.post(
        f"/a/{account.slug}/sites/{site.key}/delete/",
        {"confirm_name": "Main shop", "form_id": form_id},
        follow=True,
    )

    said = messages_of(response)
    assert "Deleting the site is still under way" in said
    assert "were deleted" not in said
    assert Site.objects.filter(pk=site.pk).exists()


def test_a_sending_without_a_copy_id_always_makes(login, owner, account):
    client = login(owner)

    for _ in range(2):
        client.post(f"/a/{account.slug}/sites/new/", {"name": "Blog"})

    assert Site.objects.filter(account=account, name="Blog").count() == 2


def test_an_invitation_sent_twice_mails_one_link_that_works(client, login, account, owner):
    owner_client = login(owner)
    page = owner_client.get(f"/a/{account.slug}/account/").content.decode()
    data = {"email": "friend@example.com", "role": "member", "form_id": form_id_in(page)}

    owner_client.post(f"/a/{account.slug}/account/members/invite/", data)
    again = owner_client.post(f"/a/{account.slug}/account/members/invite/", data, follow=True)

    assert len(mail.outbox) == 1
    assert Invitation.objects.filter(email="friend@example.com").count() == 1
    assert Invitation.objects.get().revoked_at is None
    assert again.redirect_chain == [(f"/a/{account.slug}/account/", 302)]
    assert "That form was sent twice; one invitation went to friend@example.com." in (
        messages_of(again)
    )


def test_a_site_deletion_sent_twice_is_answered_as_the_first(login, owner, account, site):
    client = login(owner)
    page = client.get(f"/a/{account.slug}/sites/{site.key}/delete/").content.decode()
    data = {"confirm_name": "Main shop", "form_id": form_id_in(page)}

    first = client.post(f"/a/{account.slug}/sites/{site.key}/delete/", data, follow=True)
    again = client.post(f"/a/{account.slug}/sites/{site.key}/delete/", data, follow=True)

    assert not Site.objects.filter(pk=site.pk).exists()
    for answer in (first, again):
        assert answer.redirect_chain == [(f"/a/{account.slug}/sites/", 302)]
        assert "Main shop and all of its data were deleted." in messages_of(answer)
    other = client.post(
        f"/a/{account.slug}/sites/{site.key}/delete/",
        {"confirm_name": "Main shop", "form_id": "0" * 32},
    )
    assert other.status_code == 404  # another copy of the form finds no site


@override_settings(COHORT_SITE_ERASE_SECONDS=0)
def test_a_site_deletion_sent_twice_while_its_rows_are_erased_says_so_both_times(
    login, owner, account, site
):
    client = login(owner)
    page = client.get(f"/a/{account.slug}/sites/{site.key}/delete/").content.decode()
    data = {"confirm_name": "Main shop", "form_id": form_id_in(page)}

    first = client.post(f"/a/{account.slug}/sites/{site.key}/delete/", data, follow=True)
    again = client.post(f"/a/{account.slug}/sites/{site.key}/delete/", data, follow=True)

    for answer in (first, again):
        said = messages_of(answer)
        assert "Main shop was deleted: nothing of it can be seen or reached any more." in said
        assert "all of its data were deleted" not in said


def test_a_sending_that_waited_for_one_that_failed_makes_the_thing_itself(
    login, owner, account, monkeypatch
):
    """The first sending gave its claim back (its mail could not be sent) while the
    second waited: the second sends the invitation instead of saying it went."""
    client = login(owner)
    form_id = form_id_in(client.get(f"/a/{account.slug}/account/").content.decode())
    content = ("friend@example.com", "member")
    claimed(f"invite:{account.pk}:{owner.pk}", form_id, content)
    key = once._key(f"invite:{account.pk}:{owner.pk}", form_id, content)
    threading.Timer(0.2, cache.delete, [key]).start()  # the first sending failed

    response = client.post(
        f"/a/{account.slug}/account/members/invite/",
        {"email": "friend@example.com", "role": "member", "form_id": form_id},
        follow=True,
    )

    assert Invitation.objects.filter(email="friend@example.com").count() == 1
    assert len(mail.outbox) == 1
    assert "Invitation sent to friend@example.com" in messages_of(response)
