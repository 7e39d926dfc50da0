"""The widget decision's fast path: live widgets kept in process memory until a widget
changes, the visitor's facts read in one statement, payloads rendered once.

Every test has two tenants: `site` (Radbooks) and `other_site` (Other Co).
"""

import json
from datetime import UTC, datetime

import pytest
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from apps.billing.services import plan_change
from apps.common import localcache
from apps.feedback_targeting.models import Widget
from apps.feedback_targeting.rules import Facts
from apps.feedback_targeting.selectors import (
    DECISION_CACHE_SECONDS,
    live_widgets,
    live_widgets_forget,
    visitor_decision_facts,
    widgets_for_visitor,
)
from apps.feedback_targeting.services import widget_delete, widget_save
from apps.user_attributes.models import AttributeValue
from tests.factories import AttributeValueFactory, ProfileFactory, VisitorFactory
from tests.feedback_targeting.test_widget_api import (
    EVERYONE,
    QUESTIONS,
    RACHEL,
    TABLET,
    answer,
    good_answers,
    identify,
    make_feedback,
    make_poll,
    offered,
    offered_ids,
)

MOBILE = "mobile456mobile456mobile456bbbbb"
IDENTIFIED = {"match": "all", "conditions": [{"type": "visitor", "op": "identified"}]}


class TestKeptWidgets:
    def test_an_edit_is_seen_by_the_next_decision(self, api_client, site):
        poll = make_poll(site, EVERYONE, url_contains="/books")
        [before] = offered(api_client, site).json()["widgets"]

        widget_save(
            site=site,
            widget=poll,
            kind=poll.kind,
            name="Renamed",
            targeting=IDENTIFIED,
            questions=QUESTIONS[:1],
            url_contains="/books",
            thank_you_message="Danke",
        )

        assert offered_ids(api_client, site) == []  # the visitor is not identified
        identify(api_client, site, TABLET, "ABC", RACHEL)
        [after] = offered(api_client, site).json()["widgets"]
        assert (before["thank_you_message"], len(before["questions"])) == ("Thanks!", 4)
        assert (after["thank_you_message"], len(after["questions"])) == ("Danke", 1)
        assert "name" not in after  # the team's name for it is not shown to visitors

    def test_a_deleted_widget_is_gone_from_the_next_decision(self, api_client, site):
        feedback = make_feedback(site)
        kept = make_feedback(site, name="Kept")
        assert offered_ids(api_client, site) == [feedback.pk, kept.pk]

        widget_delete(widget=feedback)

        assert offered_ids(api_client, site) == [kept.pk]

    def test_a_plan_without_attributes_stops_attribute_widgets_at_once(
        self, api_client, site, account, owner
    ):
        poll = make_poll(site)
        everyone = make_feedback(site)
        identify(api_client, site, TABLET, "ABC", RACHEL)
        assert offered_ids(api_client, site) == [poll.pk, everyone.pk]

        plan_change(account=account, tier="plus", changed_by=owner)

        assert offered_ids(api_client, site) == [everyone.pk]

    def test_a_change_no_service_announced_is_seen_within_the_time_bound(
        self, api_client, site, monkeypatch
    ):
        """Another process's change under a per-process cache reaches this process when
        its kept list runs out, as the cached list did before."""
        now = localcache.time.monotonic()
        feedback = make_feedback(site)
        assert offered_ids(api_client, site) == [feedback.pk]
        Widget.objects.filter(pk=feedback.pk).update(status=Widget.Status.PAUSED)

        assert offered_ids(api_client, site) == [feedback.pk]

        monkeypatch.setattr(localcache.time, "monotonic", lambda: now + DECISION_CACHE_SECONDS + 1)
        assert offered_ids(api_client, site) == []

    def test_each_site_keeps_its_own_widgets(self, site, other_site):
        ours = make_feedback(site)
        theirs = make_feedback(other_site)

        assert [w.id for w in live_widgets(site=site)] == [ours.pk]
        assert [w.id for w in live_widgets(site=other_site)] == [theirs.pk]

    def test_widgets_with_the_same_rule_are_decided_alike(self, api_client, site):
        first = make_poll(site, IDENTIFIED, name="First")
        second = make_poll(site, IDENTIFIED, name="Second")
        third = make_feedback(site, IDENTIFIED)
        assert offered_ids(api_client, site) == []
        identify(api_client, site, TABLET, "ABC", RACHEL)
        assert answer(api_client, site, first, answers=good_answers(first)).status_code == 201

        assert offered_ids(api_client, site) == [second.pk, third.pk]


class TestRendering:
    def test_the_body_is_what_the_json_renderer_writes(self, api_client, site):
        poll = make_poll(site, EVERYONE)
        poll.questions.update(text="Ümlaut „quotes“ \u2028 line\\sep </script>")
        live_widgets_forget(site_id=site.pk)
        make_feedback(site, thank_you_message='Say "thanks" 😀')
        payloads = widgets_for_visitor(site=site, visitor_id=TABLET, url="/", now=timezone.now())

        response = offered(api_client, site)

        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert response.content == JSONRenderer().render({"widgets": payloads})
        assert b"\\u2028" in response.content
        [poll_payload, feedback_payload] = response.json()["widgets"]
        assert {q["text"] for q in poll_payload["questions"]} == {
            "Ümlaut „quotes“ \u2028 line\\sep </script>"
        }
        assert feedback_payload["thank_you_message"] == 'Say "thanks" 😀'

    def test_no_widgets_is_an_empty_list(self, api_client, site):
        response = offered(api_client, site)

        assert response.content == b'{"widgets":[]}'

    def test_an_indent_asked_for_is_still_honoured(self, api_client, site):
        feedback = make_feedback(site)

        response = offered(api_client, site, HTTP_ACCEPT="application/json; indent=2")

        assert response.status_code == 200
        assert response.content.startswith(b'{\n  "widgets": [\n')
        assert [w["id"] for w in json.loads(response.content)["widgets"]] == [feedback.pk]

    @pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
    def test_what_the_script_sends_gets_compact_json(self, api_client, site, accept):
        feedback = make_feedback(site)
        headers = {"HTTP_ACCEPT": accept} if accept else {}

        response = offered(api_client, site, **headers)

        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert response.content.startswith(b'{"widgets":[{"id":%d,' % feedback.pk)

    @pytest.mark.parametrize(
        ("accept", "query", "status", "code"),
        [
            ("text/html", {}, 406, "not_acceptable"),
            ("application/json;q=0.9, */*;q=0.1", {}, 200, None),
            (None, {"format": "json"}, 200, None),
            (None, {"format": "xml"}, 406, "not_acceptable"),
        ],
    )
    def test_other_accept_headers_and_formats_are_negotiated_as_before(
        self, api_client, site, accept, query, status, code
    ):
        make_feedback(site)
        headers = {"HTTP_ACCEPT": accept} if accept else {}

        response = api_client.get(
            f"/api/v1/sites/{site.key}/widgets",
            {"visitor_id": TABLET, "url": "/", **query},
            **headers,
        )

        assert response.status_code == status
        assert response["Content-Type"] == "application/json"
        assert response.json().get("code") == code  # as docs/api.md lists them


class TestFactsInOneStatement:
    @pytest.fixture
    def person(self, site, other_site):
        """A person with a value of every type on two devices; the same device id on the
        other site belongs to someone else with other values."""
        profile = ProfileFactory(site=site, user_id="ABC")
        values = {
            "spend": {"value_type": "number", "number_value": 12.5},
            "plan": {"value_type": "string", "string_value": "Pro ß"},
            "empty": {"value_type": "string", "string_value": ""},
            "since": {
                "value_type": "date",
                "date_value": datetime(2019, 6, 20, 13, 45, 1, 250000, tzinfo=UTC),
            },
            "trial": {"value_type": "boolean", "boolean_value": False},
            "newsletter": {"value_type": "boolean", "boolean_value": True},
        }
        for key, fields in values.items():
            AttributeValueFactory(
                site=site, profile=profile, key=key, **{"number_value": None, **fields}
            )
        VisitorFactory(site=site, visitor_id=TABLET, profile=profile)
        VisitorFactory(site=site, visitor_id=MOBILE, profile=profile)
        stranger = ProfileFactory(site=other_site, user_id="ABC")
        AttributeValueFactory(site=other_site, profile=stranger, key="spend", number_value=99)
        VisitorFactory(site=other_site, visitor_id=TABLET, profile=stranger)
        return profile

    def test_the_facts_are_those_the_orm_reads(self, site, person):
        facts, answered = visitor_decision_facts(
            site=site, visitor_id=MOBILE, with_attributes=True, poll_ids=[]
        )

        assert facts.attributes == {
            value.key: (value.value_type, value.value)
            for value in AttributeValue.objects.filter(site=site, profile=person)
        }
        assert facts.identified is True
        assert facts.attributes == {
            "spend": ("number", 12.5),
            "plan": ("string", "Pro ß"),
            "empty": ("string", ""),
            "since": ("date", datetime(2019, 6, 20, 13, 45, 1, 250000, tzinfo=UTC)),
            "trial": ("boolean", False),
            "newsletter": ("boolean", True),
        }
        assert facts.attributes["trial"][1] is False
        assert answered == set()

    def test_without_attributes_only_who_it_is(self, site, person):
        facts, _ = visitor_decision_facts(
            site=site, visitor_id=TABLET, with_attributes=False, poll_ids=[]
        )

        assert facts == Facts(identified=True, attributes={})

    def test_answered_polls_count_on_every_device_and_only_those_asked_about(
        self, api_client, site, other_site, person
    ):
        asked = make_poll(site, EVERYONE, name="Asked")
        not_asked = make_poll(site, EVERYONE, name="Not asked")
        feedback = make_feedback(site)
        theirs = make_poll(other_site, EVERYONE)
        for widget in (asked, not_asked):
            assert answer(api_client, site, widget, answers=good_answers(widget)).status_code == 201
        assert answer(api_client, site, feedback, emotion=4).status_code == 201
        assert (
            answer(api_client, other_site, theirs, answers=good_answers(theirs)).status_code == 201
        )

        _, answered = visitor_decision_facts(
            site=site, visitor_id=MOBILE, with_attributes=False, poll_ids=[asked.pk, theirs.pk]
        )

        assert answered == {asked.pk}

    @pytest.mark.parametrize("visitor_id", ["never0seen0never0seen0never0seen", "anonymous"])
    def test_an_unknown_or_anonymous_visitor_is_not_identified(self, site, visitor_id):
        anonymous = ProfileFactory(site=site, user_id=None)
        AttributeValueFactory(
            site=site,
            profile=anonymous,
            key="ab_test",
            value_type="string",
            number_value=None,
            string_value="A",
        )
        VisitorFactory(site=site, visitor_id="anonymous", profile=anonymous)

        facts, answered = visitor_decision_facts(
            site=site, visitor_id=visitor_id, with_attributes=True, poll_ids=[1, 2]
        )

        expected = {"ab_test": ("string", "A")} if visitor_id == "anonymous" else {}
        assert facts == Facts(identified=False, attributes=expected)
        assert answered == set()

    def test_a_device_without_a_profile_has_no_facts(self, site):
        VisitorFactory(site=site, visitor_id=TABLET, profile=None)

        facts, answered = visitor_decision_facts(
            site=site, visitor_id=TABLET, with_attributes=True, poll_ids=[1]
        )

        assert facts == Facts(identified=False, attributes={})
        assert answered == set()
