"""Widget lifecycle: building, activation, and the rule that widgets targeting on
attributes stop when User Attributes (or the plan that includes them) go away."""

import re
from dataclasses import replace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import Account
from apps.billing.services import plan_change
from apps.common.demo import demo_seed
from apps.common.errors import ApplicationError
from apps.consent.selectors import consent_statements
from apps.consent.services import user_attributes_disable, user_attributes_enable
from apps.feedback_targeting.models import Question, Response, Widget
from apps.feedback_targeting.rules import RuleError
from apps.feedback_targeting.selectors import widgets_for_visitor
from apps.feedback_targeting.services import (
    REASON_NO_LONGER,
    REASON_PLAN,
    REASON_UA_DISABLED,
    QuestionSpec,
    widget_activate,
    widget_delete,
    widget_pause,
    widget_save,
)
from apps.identity.services import visitor_identify
from apps.sites.models import Site
from tests.feedback_targeting.factories import ResponseFactory

VISITOR = "visitor0visitor0visitor0visitor0"
SPEND = {"match": "all", "conditions": [{"type": "number", "key": "spend", "op": "gt", "value": 0}]}
IDENTIFIED = {"match": "all", "conditions": [{"type": "visitor", "op": "identified"}]}
RATING = [QuestionSpec(kind="rating", text="How are we doing?")]


def poll(site, targeting=SPEND, name="Poll", active=True):
    widget = widget_save(site=site, kind="poll", name=name, targeting=targeting, questions=RATING)
    return widget_activate(widget=widget) if active else widget


def shown(site, visitor_id=VISITOR):
    return [
        w["id"]
        for w in widgets_for_visitor(site=site, visitor_id=visitor_id, url="/", now=timezone.now())
    ]


class TestBuilding:
    def test_a_poll_needs_questions(self, site):
        with pytest.raises(ApplicationError) as error:
            widget_save(site=site, kind="poll", name="x", targeting=SPEND, questions=[])
        assert error.value.code == "questions_required"
        assert not Widget.objects.exists()

    @pytest.mark.parametrize(
        "question",
        [
            QuestionSpec(kind="single", text="Pick", choices=("only one",)),
            QuestionSpec(kind="multiple", text="Pick", choices=("a", "a")),
            QuestionSpec(kind="text", text="   "),
            QuestionSpec(kind="slider", text="x"),
        ],
    )
    def test_bad_questions_are_refused(self, site, question):
        with pytest.raises(ApplicationError) as error:
            widget_save(site=site, kind="poll", name="x", targeting=SPEND, questions=[question])
        assert error.value.code in ("invalid_question",)
        assert not Widget.objects.exists()

    def test_bad_rule_is_refused_and_nothing_saved(self, site):
        bad = {"conditions": [{"type": "number", "key": "spend", "op": "gt", "value": "lots"}]}
        with pytest.raises(RuleError) as error:
            widget_save(site=site, kind="poll", name="x", targeting=bad, questions=RATING)
        assert error.value.errors == {0: "“lots” is not a number."}
        assert not Widget.objects.exists()

    def test_editing_keeps_each_question_with_its_id_wherever_it_moves(self, site):
        widget = poll(site, active=False)
        rating = widget.questions.get()
        why = QuestionSpec(kind="text", text="Why?", required=False)

        def save(*questions):
            widget_save(
                site=site,
                widget=widget,
                kind="poll",
                name="P",
                targeting=SPEND,
                questions=[*questions],
            )
            return list(widget.questions.values_list("pk", "text"))

        added = save(replace(RATING[0], question_id=rating.pk), why)
        why_id = added[1][0]
        assert added == [(rating.pk, "How are we doing?"), (why_id, "Why?")]
        # The two swap places: each keeps its id, so each keeps its answers.
        swapped = save(replace(why, question_id=why_id), replace(RATING[0], question_id=rating.pk))
        assert swapped == [(why_id, "Why?"), (rating.pk, "How are we doing?")]
        # The first is removed: the other does not take over its row (nor its answers).
        assert save(replace(RATING[0], question_id=rating.pk)) == [(rating.pk, "How are we doing?")]
        # An id of no question of this widget makes a new question.
        [(new_id, _)] = save(replace(RATING[0], question_id=rating.pk + 1000))
        assert new_id not in (rating.pk, why_id)


class TestAttributesGoingAway:
    def test_disabling_user_attributes_disables_attribute_widgets_only(self, site, owner):
        spend = poll(site, name="spend")
        paused = widget_pause(widget=poll(site, name="paused"))
        identified_only = poll(site, IDENTIFIED, name="identified")

        user_attributes_disable(site=site, user=owner, client_ip=None)

        statuses = dict(Widget.objects.values_list("name", "status"))
        assert statuses == {"spend": "disabled", "paused": "disabled", "identified": "active"}
        assert Widget.objects.get(pk=spend.pk).disabled_reason == REASON_UA_DISABLED
        assert Widget.objects.get(pk=paused.pk).disabled_reason == REASON_UA_DISABLED
        assert Widget.objects.get(pk=identified_only.pk).disabled_reason == ""

    def test_a_disabled_widget_cannot_be_activated_until_attributes_return(self, site, owner):
        widget = poll(site)
        user_attributes_disable(site=site, user=owner, client_ip=None)

        with pytest.raises(ApplicationError) as error:
            widget_activate(widget=Widget.objects.get(pk=widget.pk))
        assert error.value.code == "attributes_unavailable"
        assert Widget.objects.get(pk=widget.pk).status == "disabled"

        user_attributes_enable(
            site=Site.objects.get(pk=site.pk),
            user=owner,
            confirmed=set(consent_statements(account=site.account)),
            client_ip=None,
        )
        # Enabling again does not switch widgets back on by itself ...
        assert Widget.objects.get(pk=widget.pk).status == "disabled"
        # ... but they may now be activated.
        assert widget_activate(widget=Widget.objects.get(pk=widget.pk)).status == "active"

    def test_removing_the_attribute_conditions_allows_activation(self, site, owner):
        widget = poll(site)
        user_attributes_disable(site=site, user=owner, client_ip=None)

        def saved_with(targeting: dict) -> Widget:
            widget_save(
                site=Site.objects.get(pk=site.pk),
                widget=Widget.objects.get(pk=widget.pk),
                kind="poll",
                name=widget.name,
                targeting=targeting,
                questions=RATING,
            )
            return Widget.objects.get(pk=widget.pk)

        saved = saved_with(IDENTIFIED)
        assert (saved.status, saved.disabled_reason) == ("disabled", REASON_NO_LONGER)
        # the conditions back while User Attributes are still off: the reason is back too
        again = saved_with(SPEND)
        assert (again.status, again.disabled_reason) == ("disabled", REASON_UA_DISABLED)
        assert widget_activate(widget=saved_with(IDENTIFIED)).status == "active"

    def test_an_active_widget_cannot_gain_attribute_conditions_while_disabled(self, site, owner):
        widget = poll(site, IDENTIFIED)
        user_attributes_disable(site=site, user=owner, client_ip=None)

        with pytest.raises(ApplicationError) as error:
            widget_save(
                site=Site.objects.get(pk=site.pk),
                widget=Widget.objects.get(pk=widget.pk),
                kind="poll",
                name="x",
                targeting=SPEND,
                questions=RATING,
            )
        assert error.value.code == "attributes_unavailable"
        assert Widget.objects.get(pk=widget.pk).targeting == IDENTIFIED

    def test_an_activation_judges_the_targeting_saved_after_its_widget_was_read(self, site, owner):
        """One admin's page shows the paused widget without attribute conditions; another
        admin saves it with them meanwhile; the first one's Activate must not let it run
        on the attributes the site has switched off."""
        visitor_identify(site=site, visitor_id=VISITOR, user_id="u1", attributes={"spend": 5})
        widget = widget_pause(widget=poll(site, IDENTIFIED))
        user_attributes_disable(site=site, user=owner, client_ip=None)
        stale = Widget.objects.select_related("site__account").get(pk=widget.pk)
        widget_save(
            site=Site.objects.get(pk=site.pk),
            widget=Widget.objects.get(pk=widget.pk),
            kind="poll",
            name=widget.name,
            targeting=SPEND,
            questions=RATING,
        )

        with pytest.raises(ApplicationError) as error:
            widget_activate(widget=stale)

        assert error.value.code == "attributes_unavailable"
        assert error.value.message == (
            f"{REASON_UA_DISABLED} Remove the attribute conditions, or enable User "
            "Attributes for this site."
        )
        assert Widget.objects.get(pk=widget.pk).status == "paused"
        assert shown(site) == []

    def test_a_save_judges_the_status_set_after_its_widget_was_read(self, site, owner):
        """One admin's page shows the widget paused and adds attribute conditions; another
        admin switched it on meanwhile: the save is refused as one of an active widget,
        on a site whose User Attributes are off."""
        visitor_identify(site=site, visitor_id=VISITOR, user_id="u1", attributes={"spend": 5})
        widget = widget_pause(widget=poll(site, IDENTIFIED))
        user_attributes_disable(site=site, user=owner, client_ip=None)
        stale = Widget.objects.get(pk=widget.pk)
        widget_activate(widget=Widget.objects.select_related("site__account").get(pk=widget.pk))

        with pytest.raises(ApplicationError) as error:
            widget_save(
                site=Site.objects.get(pk=site.pk),
                widget=stale,
                kind="poll",
                name=widget.name,
                targeting=SPEND,
                questions=RATING,
            )

        assert error.value.code == "attributes_unavailable"
        assert Widget.objects.get(pk=widget.pk).targeting == IDENTIFIED
        assert shown(site) == [widget.pk]

    def test_an_activation_saves_what_was_saved_after_its_widget_was_read(self, site):
        """It switches the widget on, and changes nothing else of it."""
        widget = poll(site, IDENTIFIED, active=False)
        stale = Widget.objects.select_related("site__account").get(pk=widget.pk)
        widget_save(
            site=site,
            widget=Widget.objects.get(pk=widget.pk),
            kind="poll",
            name="Renamed",
            targeting=SPEND,
            questions=RATING,
        )

        activated = widget_activate(widget=stale)

        stored = Widget.objects.get(pk=widget.pk)
        assert (stored.status, stored.name, stored.targeting) == ("active", "Renamed", SPEND)
        assert (activated.status, activated.name, activated.targeting) == (
            "active",
            "Renamed",
            SPEND,
        )

    def test_plan_downgrade_below_business_disables_them(self, site, account, owner):
        widget = poll(site)
        other = poll(site, IDENTIFIED, name="identified")

        plan_change(account=account, tier="plus", changed_by=owner)

        assert Widget.objects.get(pk=widget.pk).status == "disabled"
        assert Widget.objects.get(pk=widget.pk).disabled_reason == REASON_PLAN
        assert Widget.objects.get(pk=other.pk).status == "active"
        plan_change(account=account, tier="business", changed_by=owner)
        assert Widget.objects.get(pk=widget.pk).status == "disabled"

    @pytest.mark.parametrize(
        ("change", "remedy"),
        [
            ({"tier": "plus"}, "or upgrade the plan to Business or higher."),
            ({"billing_version": 1}, "or ask support to move the account to billing version 2."),
        ],
    )
    def test_a_refused_switch_on_names_what_the_plan_needs(self, site, account, change, remedy):
        """User Attributes are still enabled on the site: enabling them is no remedy."""
        widget = poll(site)
        Account.objects.filter(pk=account.pk).update(**change)

        with pytest.raises(ApplicationError) as error:
            widget_activate(widget=Widget.objects.get(pk=widget.pk))

        assert error.value.message == f"{REASON_PLAN} Remove the attribute conditions, {remedy}"


class TestDecisionCache:
    def test_pausing_takes_effect_at_once(self, site):
        visitor_identify(site=site, visitor_id=VISITOR, user_id="u1", attributes={"spend": 5})
        widget = poll(site)
        assert shown(site) == [widget.pk]

        widget_pause(widget=widget)

        assert shown(site) == []

    def test_new_attributes_change_the_decision(self, site):
        widget = poll(site)
        visitor_identify(site=site, visitor_id=VISITOR, user_id="u1", attributes={"spend": 0})
        assert shown(site) == []

        visitor_identify(site=site, visitor_id=VISITOR, user_id="u1", attributes={"spend": 9})

        assert shown(site) == [widget.pk]


def test_seed_demo_poll_targets_paying_customers_only(db):
    facts = demo_seed(base_url="http://127.0.0.1:8000")
    site = Site.objects.get(key=facts["site_key"])
    customer, anonymous = "customer0customer0customer000000", "anonymous0anonymous0anonymous000"
    visitor_identify(
        site=site,
        visitor_id=customer,
        user_id="ABC",
        attributes={"total_spend": 500, "first_purchase": "2019-06-20Z"},
    )
    visitor_identify(site=site, visitor_id=anonymous, user_id=None, attributes={"ab_test": "A"})

    assert shown(site, customer) == [facts["poll_id"]]
    assert shown(site, anonymous) == []
    assert demo_seed(base_url="http://127.0.0.1:8000")["poll_id"] == facts["poll_id"]
    assert Widget.objects.filter(site=site).count() == 1


def test_every_change_to_a_widget_names_its_site(site, owner):
    """Each UPDATE and DELETE on the widget tables names the site in its WHERE, so that a
    database distributed by site sends it to that site's shard alone (docs/scaling.md)."""
    widget = poll(site, SPEND, active=False)
    first = widget.questions.get()
    ResponseFactory(widget=widget, answers={str(first.pk): 4})
    tables = tuple(model._meta.db_table for model in (Widget, Question, Response))

    with CaptureQueriesContext(connection) as queries:
        widget_activate(widget=Widget.objects.get(pk=widget.pk))
        widget_pause(widget=Widget.objects.get(pk=widget.pk))
        widget_save(  # the first question moves down, a new one comes first
            site=site,
            widget=Widget.objects.get(pk=widget.pk),
            kind="poll",
            name="Renamed",
            targeting=SPEND,
            questions=[
                QuestionSpec(kind="text", text="Why?"),
                replace(RATING[0], question_id=first.pk),
            ],
        )
        moved = Widget.objects.get(pk=widget.pk)
        widget_save(  # the first question goes
            site=site,
            widget=moved,
            kind="poll",
            name="Renamed",
            targeting=SPEND,
            questions=[QuestionSpec(kind="text", text="Why not?")],
        )
        widget_activate(widget=Widget.objects.get(pk=widget.pk))
        user_attributes_disable(site=site, user=owner, client_ip=None)
        widget_delete(widget=Widget.objects.get(pk=widget.pk), by=owner)

    changes = [
        q["sql"]
        for q in queries
        if q["sql"].startswith(("UPDATE", "DELETE")) and any(t in q["sql"] for t in tables)
    ]
    assert len(changes) >= 10, changes
    for sql in changes:
        assert re.search(r"WHERE .*\bsite_id\b", sql), sql
    # ... and the changes were made
    assert not Widget.objects.filter(pk=widget.pk).exists()
    assert not Question.objects.exists()
    assert not Response.objects.exists()
