"""Switching a widget on while User Attributes go off (or the plan loses them) at the same
moment, on PostgreSQL: the widget never ends up running on attributes the site lost."""

import json
import threading

import pytest
from django.db import connection, connections, transaction

from apps.accounts.models import Account
from apps.common.errors import ApplicationError
from apps.consent.services import user_attributes_disable
from apps.feedback_targeting.models import Widget
from apps.feedback_targeting.services import widget_activate
from apps.sites.models import Site
from tests.factories import SiteFactory, UserFactory
from tests.feedback_targeting.factories import QuestionFactory
from tests.feedback_targeting.test_widget_api import EVERYONE, PAYING_FOR_10_DAYS, make_poll
from tests.locks import committed_once_waited_for, held_for_key_share

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("on_postgres")]


def committed_elsewhere_soon(sql: str, params: list, after: float = 0.5) -> threading.Timer:
    """Run `sql` in a transaction of another connection now, and commit it `after` seconds
    later (while this connection may be waiting for its lock)."""
    other = connection.get_new_connection(connection.get_connection_params())
    with other.cursor() as cursor:
        cursor.execute(sql, params)

    def commit():
        other.commit()
        other.close()

    timer = threading.Timer(after, commit)
    timer.start()
    return timer


@pytest.mark.parametrize("change", ["disable", "downgrade"])
def test_an_activation_waits_for_a_switch_off_and_is_refused(change):
    site = SiteFactory()
    widget = make_poll(site, active=False)
    if change == "disable":
        sql = f"UPDATE {Site._meta.db_table} SET user_attributes_enabled = false WHERE id = %s"
        params = [site.pk]
    else:
        sql = f"UPDATE {Account._meta.db_table} SET tier = 'plus' WHERE id = %s"
        params = [site.account_id]
    timer = committed_elsewhere_soon(sql, params)
    try:
        with pytest.raises(ApplicationError) as refused:
            widget_activate(widget=Widget.objects.select_related("site__account").get(pk=widget.pk))
    finally:
        timer.join()

    assert refused.value.code == "attributes_unavailable"
    assert Widget.objects.get(pk=widget.pk).status == Widget.Status.DRAFT


def test_an_activation_does_not_wait_for_a_foreign_key_check_on_the_account():
    """Switching User Attributes off records its consent row, whose foreign key check
    holds the account FOR KEY SHARE until commit while the site row is locked: an
    activation that locked the account FOR UPDATE, then waited for the site, would
    deadlock with it."""
    site = SiteFactory()
    widget = make_poll(site, active=False)
    with held_for_key_share(Account, site.account_id):
        activated = widget_activate(
            widget=Widget.objects.select_related("site__account").get(pk=widget.pk)
        )

    assert activated.status == Widget.Status.ACTIVE


def test_switching_user_attributes_off_lets_a_widget_being_saved_finish():
    """A widget save holds its row and then adds a question, whose foreign key check
    takes the site FOR KEY SHARE; the switch-off holds the site and then updates the
    widget. Locking the site FOR UPDATE there deadlocked the two."""
    site = SiteFactory()
    widget = make_poll(site)
    owner = UserFactory()
    locked, release = threading.Event(), threading.Event()

    def switch_off():
        try:
            with transaction.atomic():
                user_attributes_disable(site=site, user=owner, client_ip=None)
                locked.set()
                release.wait(5)
        finally:
            connections.close_all()

    worker = threading.Thread(target=switch_off)
    worker.start()
    try:
        assert locked.wait(5)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        QuestionFactory(widget=widget, position=9, kind="text", text="Added meanwhile")
    finally:
        release.set()
        worker.join()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")

    assert widget.questions.filter(text="Added meanwhile").exists()


def test_an_activation_waits_for_a_save_adding_attribute_conditions_and_is_refused():
    """The widget was read before another admin's save added attribute conditions, while
    User Attributes are off: the activation waits for that save and judges what it stored."""
    site = SiteFactory(user_attributes_enabled=False)
    widget = make_poll(site, EVERYONE, active=False)
    stale = Widget.objects.select_related("site__account").get(pk=widget.pk)
    saved = (
        f"UPDATE {Widget._meta.db_table} SET targeting = %s WHERE id = %s",
        [json.dumps(PAYING_FOR_10_DAYS), widget.pk],
    )
    saver = committed_once_waited_for([saved])
    try:
        with pytest.raises(ApplicationError) as refused:
            widget_activate(widget=stale)
    finally:
        saver.join()

    assert refused.value.code == "attributes_unavailable"
    assert Widget.objects.get(pk=widget.pk).status == Widget.Status.DRAFT
