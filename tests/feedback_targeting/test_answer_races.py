"""An answer sent while the owner deletes or pauses its widget, on PostgreSQL: the answer
waits for the change and is refused as the widget now is, never with a server error."""

import pytest
from django.db import transaction

from apps.accounts.models import AccountEvent
from apps.feedback_targeting.models import Question, Response, Widget
from apps.feedback_targeting.services import widget_delete
from apps.sites.models import Site
from apps.sites.services import site_delete
from tests.factories import ProfileFactory, SiteFactory, VisitorFactory
from tests.feedback_targeting.test_widget_api import EVERYONE, answer, good_answers, make_poll
from tests.locks import committed_once_waited_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("on_postgres")]


def answer_being_stored(site, poll, visitor) -> list[tuple[str, list]]:
    """What storing an answer does first: it holds its widget's row (as `response_submit`
    does) and writes the response."""
    return [
        (f"SELECT id FROM {Widget._meta.db_table} WHERE id = %s FOR SHARE", [poll.pk]),
        (
            f"INSERT INTO {Response._meta.db_table} (site_id, widget_id, visitor_id, "
            "profile_id, answers, comment, email, consent_to_connect, page_url, created_at, "
            "answer_id) VALUES (%s, %s, %s, %s, '{}', '', '', false, '', now(), '')",
            [site.pk, poll.pk, visitor.pk, visitor.profile_id],
        ),
    ]


def deleted(widget) -> list[tuple[str, list]]:
    return [
        (f"DELETE FROM {Question._meta.db_table} WHERE widget_id = %s", [widget.pk]),
        (f"DELETE FROM {Widget._meta.db_table} WHERE id = %s", [widget.pk]),
    ]


def paused(widget) -> list[tuple[str, list]]:
    return [(f"UPDATE {Widget._meta.db_table} SET status = 'paused' WHERE id = %s", [widget.pk])]


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [(deleted, 404, "unknown_widget"), (paused, 409, "widget_inactive")],
)
def test_an_answer_waits_for_its_widget_to_change_and_is_refused(api_client, change, status, code):
    site = SiteFactory()
    poll = make_poll(site, EVERYONE)
    worker = committed_once_waited_for(change(poll))
    try:
        response = answer(api_client, site, poll, answers=good_answers(poll))
    finally:
        worker.join()

    assert (response.status_code, response.json()["code"]) == (status, code)
    assert not Response.objects.exists()


def test_a_deletion_waits_for_an_answer_being_stored_and_deletes_it_too(site, owner):
    """The answer holds its widget's row while it is stored (as `response_submit` does):
    the deletion waits for it, and then finds it among the widget's responses."""
    poll = make_poll(site, EVERYONE)
    visitor = VisitorFactory(site=site, profile=ProfileFactory(site=site))
    worker = committed_once_waited_for(answer_being_stored(site, poll, visitor))
    try:
        widget_delete(widget=poll, by=owner)
    finally:
        worker.join()

    assert not Widget.objects.filter(pk=poll.pk).exists()
    assert not Response.objects.exists()
    event = AccountEvent.objects.get(action=AccountEvent.Action.WIDGET_DELETED)
    assert event.subject == f"“{poll.name}” on {site.name}: 1 response"


def test_a_site_deletion_waits_for_an_answer_being_stored_and_deletes_it_too(site, owner):
    """A site deleted while one of its widgets' answers is being stored waits for the
    answer (its widget's row) and deletes it too: it never fails at commit on the
    answer's foreign keys, which would roll the whole deletion back."""
    poll = make_poll(site, EVERYONE)
    visitor = VisitorFactory(site=site, profile=ProfileFactory(site=site))
    worker = committed_once_waited_for(answer_being_stored(site, poll, visitor))
    try:
        with transaction.atomic():
            site_delete(site=site, by=owner)
    finally:
        worker.join()

    assert not Site.objects.filter(pk=site.pk).exists()
    assert not Widget.objects.exists()
    assert not Response.objects.exists()
