"""Polls and Incoming Feedback pages: the list, the builder with its rule editor and live
previews, switching on and off, results and the CSV export. Two tenants throughout."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.common import liveness
from apps.consent.services import user_attributes_disable
from apps.feedback_targeting.models import Response, Widget
from apps.feedback_targeting.selectors import (
    responses_in_pages,
    widget_responses_for_export,
    widget_results,
)
from apps.feedback_targeting.services import REASON_UA_DISABLED
from apps.feedback_targeting.texts import WIDGET_TEXTS
from apps.feedback_targeting.views import CSV_CHUNK_CHARS, csv_cell
from apps.identity.services import visitor_identify
from apps.sites.models import Site
from apps.tracker.selectors import SCRIPT_PATH
from apps.user_attributes.models import AttributeValue, ValueType
from tests.factories import (
    AttributeKeyFactory,
    AttributeValueFactory,
    ProfileFactory,
    SiteFactory,
)
from tests.feedback_targeting.factories import (
    QuestionFactory,
    ResponseFactory,
    WidgetFactory,
    feedback_with_comments,
    questions_saved,
    specs_of,
)

SPEND_GT_0 = {"type": "number", "key": "total_spend", "op": "gt", "value": 0}
OLD_PURCHASE = {"type": "date", "key": "first_purchase", "op": "more_than_days_ago", "value": 10}
PAYING = {"match": "all", "conditions": [SPEND_GT_0, OLD_PURCHASE]}
IDENTIFIED = {"match": "all", "conditions": [{"type": "visitor", "op": "identified"}]}
IDENTIFIED_ROW = {"c9-key": "@visitor", "c9-op": "identified"}  # the builder's row for it
HX = {"HTTP_HX_REQUEST": "true"}


def url(site, *parts, query=""):
    path = "/".join(str(p) for p in parts)
    suffix = f"{path}/" if path and not path.endswith(".csv") else path
    return f"/a/{site.account.slug}/widgets/{site.key}/{suffix}{query}"


def html(response) -> str:
    return response.content.decode()


def catalogue(site):
    """The attribute keys the builder offers: two numbers, a date, a string, a boolean,
    and `plan`, sent both as a number and as a string."""
    for key, type_, mask in [
        ("total_spend", ValueType.NUMBER, 1),
        ("first_purchase", ValueType.DATE, 4),
        ("tier", ValueType.STRING, 2),
        ("newsletter", ValueType.BOOLEAN, 8),
        ("plan", ValueType.STRING, 1 | 2),
    ]:
        AttributeKeyFactory(site=site, key=key, value_type=type_, types_mask=mask)


def poll(site, *, targeting=None, status=Widget.Status.ACTIVE, name="Paying customers"):
    widget = WidgetFactory(
        site=site, name=name, status=status, targeting=targeting or PAYING, kind="poll"
    )
    QuestionFactory(widget=widget, position=0, kind="rating", text="How happy are you?", choices=[])
    return widget


def builder_post(**overrides) -> dict:
    """A full builder POST: a poll with two questions and the seed's targeting."""
    data = {
        "kind": "poll",
        "name": "Paying customers",
        "thank_you_message": "Thanks!",
        "url_contains": "/account",
        "match": "all",
        "questions": ["q0", "q1"],
        "q0-kind": "rating",
        "q0-text": "How happy are you?",
        "q0-required": "on",
        "q1-kind": "single",
        "q1-text": "What first?",
        "q1-choices": "Delivery\nPrices\n\n",
        "conditions": ["c0", "c1"],
        "c0-key": "total_spend",
        "c0-type": "number",
        "c0-op": "gt",
        "c0-value": "0",
        "c1-key": "first_purchase",
        "c1-type": "date",
        "c1-op": "more_than_days_ago",
        "c1-value": "10",
        "builder_action": "save",
    }
    data.update(overrides)
    return data


def state(site) -> list[tuple]:
    """Everything the builder and the switches could change on a site's widgets."""
    return [
        (
            w.pk,
            w.name,
            w.status,
            w.disabled_reason,
            w.targeting,
            w.url_contains,
            *w.questions.values_list("kind", "text", "choices", "required"),
        )
        for w in Widget.objects.filter(site=site).order_by("pk")
    ]


@pytest.fixture
def other_widget(other_site):
    return poll(other_site, name="Other Co secret poll")


# --- list -------------------------------------------------------------------------------


class TestList:
    def test_index_opens_the_first_site(self, login, owner, site):
        response = login(owner).get(f"/a/{site.account.slug}/widgets/")

        assert response.status_code == 302
        assert response["Location"] == url(site)

    def test_lists_the_sites_widgets_with_status_count_and_targeting_in_words(
        self, login, owner, site, other_widget
    ):
        paying = poll(site)
        ResponseFactory.create_batch(3, widget=paying)
        feedback = WidgetFactory(
            site=site, kind="feedback", name="Side tab", status="draft", targeting=IDENTIFIED
        )
        SiteFactory(account=site.account, name="Second shop")

        page = html(login(owner).get(url(site)))

        row = re.search(rf'<tr id="widget-{paying.pk}".*?</tr>', page, re.S).group(0)
        assert "Paying customers" in row
        assert "Poll" in row
        assert 'data-status="active"' in row
        assert "<td>3</td>" in row
        assert "total_spend &gt; 0 and first_purchase more than 10 days ago" in row
        assert f'href="{url(site, paying.pk, "results")}"' in row
        assert f'action="{url(site, paying.pk, "pause")}"' in row
        feedback_row = re.search(rf'<tr id="widget-{feedback.pk}".*?</tr>', page, re.S).group(0)
        assert "Incoming Feedback" in feedback_row
        assert 'data-status="draft"' in feedback_row
        assert "visitor is identified" in feedback_row
        assert "<td>0</td>" in feedback_row
        assert f'action="{url(site, feedback.pk, "activate")}"' in feedback_row
        # the site selector offers both sites of the account, and nothing of the other one
        assert "Second shop" in page
        assert "Other Co" not in page

    def test_the_newest_widget_comes_first(self, login, owner, site):
        now = timezone.now()
        for days_ago, name in ((3, "Oldest"), (2, "Middle"), (1, "Newest")):
            widget = WidgetFactory(site=site, name=name)
            Widget.objects.filter(pk=widget.pk).update(created_at=now - timedelta(days=days_ago))
        ResponseFactory(widget=Widget.objects.get(name="Oldest"))

        page = html(login(owner).get(url(site)))

        names = re.findall(r'<tr id="widget-\d+"[^>]*>\s*<td><a [^>]*>([^<]+)</a>', page)
        assert names == ["Newest", "Middle", "Oldest"]

    def test_a_disabled_widget_shows_its_reason(self, login, member, site):
        Site.objects.filter(pk=site.pk).update(user_attributes_enabled=False)
        WidgetFactory(
            site=site, status="disabled", disabled_reason=REASON_UA_DISABLED, targeting=PAYING
        )

        page = html(login(member).get(url(site)))

        assert 'data-status="disabled"' in page
        assert REASON_UA_DISABLED in page

    def test_members_see_the_list_without_switches(self, login, member, site):
        widget = poll(site)

        page = html(login(member).get(url(site)))

        assert widget.name in page
        assert url(site, widget.pk, "pause") not in page
        assert 'id="new-poll"' not in page


# --- tenancy and roles -------------------------------------------------------------------


WIDGET_ROUTES = [
    ("GET", ""),
    ("POST", ""),
    ("GET", "results"),
    ("GET", "results.csv"),
    ("POST", "activate"),
    ("POST", "pause"),
    ("GET", "delete"),
    ("POST", "delete"),
]


class TestTenancy:
    @pytest.mark.parametrize(("method", "action"), WIDGET_ROUTES)
    def test_another_accounts_widget_under_ones_own_site_is_404(
        self, login, owner, site, other_widget, method, action
    ):
        # given an owner of Radbooks who knows the id of Other Co's widget
        before = state(other_widget.site)
        target = url(site, other_widget.pk, action) if action else url(site, other_widget.pk)

        # when they put it under their own site
        response = getattr(login(owner), method.lower())(target, builder_post())

        # then it does not exist for them, and nothing changed
        assert response.status_code == 404
        assert "Other Co" not in html(response)
        assert state(other_widget.site) == before

    @pytest.mark.parametrize(("method", "action"), WIDGET_ROUTES)
    def test_a_widget_is_found_only_under_its_own_site(self, login, owner, site, method, action):
        second = SiteFactory(account=site.account, name="Second shop")
        widget = poll(second, status=Widget.Status.DRAFT)
        before = state(second)
        target = url(site, widget.pk, action) if action else url(site, widget.pk)

        response = getattr(login(owner), method.lower())(target, builder_post())

        assert response.status_code == 404
        assert state(second) == before

    def test_another_accounts_site_key_is_404(self, login, owner, site, other_site):
        client = login(owner)
        for path in ("", "new/"):
            response = client.get(f"/a/{site.account.slug}/widgets/{other_site.key}/{path}")
            assert response.status_code == 404
        for path in ("builder/preview/", "builder/condition/", "builder/question/"):
            response = client.post(f"/a/{site.account.slug}/widgets/{other_site.key}/{path}")
            assert response.status_code == 404

    def test_the_builder_offers_only_the_sites_own_keys(self, login, owner, site, other_site):
        AttributeKeyFactory(site=site, key="total_spend")
        AttributeKeyFactory(site=other_site, key="other_secret_key")

        page = html(login(owner).post(url(site, "builder/condition")))

        assert "total_spend" in page
        assert "other_secret_key" not in page


class TestRoles:
    @pytest.mark.parametrize(
        ("method", "action"),
        [("POST", ""), ("POST", "activate"), ("POST", "pause"), ("POST", "delete")],
    )
    @pytest.mark.parametrize("status", [Widget.Status.DRAFT, Widget.Status.ACTIVE])
    def test_members_cannot_change_widgets(self, login, member, site, method, action, status):
        widget = poll(site, status=status)
        before = state(site)
        target = url(site, widget.pk, action) if action else url(site, widget.pk)

        response = login(member).post(target, builder_post(name="Changed by a member"))

        assert response.status_code == 403
        assert state(site) == before

    def test_members_cannot_create_widgets(self, login, member, site):
        response = login(member).post(url(site, "new"), builder_post())

        assert response.status_code == 403
        assert not Widget.objects.exists()

    def test_members_see_the_builder_read_only(self, login, member, site):
        widget = poll(site)

        response = login(member).get(url(site, widget.pk))

        page = html(response)
        assert response.status_code == 200
        assert '<fieldset class="plain" disabled>' in page
        assert 'id="save-widget"' not in page
        assert url(site, widget.pk, "activate") not in page

    @pytest.mark.parametrize("role_fixture", ["owner", "admin_user"])
    def test_owners_and_admins_switch_widgets_on_and_off(self, request, login, site, role_fixture):
        client = login(request.getfixturevalue(role_fixture))
        widget = poll(site, status=Widget.Status.DRAFT)

        assert client.post(url(site, widget.pk, "activate")).status_code == 302
        assert Widget.objects.get(pk=widget.pk).status == "active"
        assert client.post(url(site, widget.pk, "pause")).status_code == 302
        assert Widget.objects.get(pk=widget.pk).status == "paused"


# --- the builder ------------------------------------------------------------------------


class TestCreateAndEdit:
    def test_new_poll_page_has_a_question_and_no_condition(self, login, owner, site):
        page = html(login(owner).get(url(site, "new", query="?kind=poll")))

        assert "<h1>New poll</h1>" in page
        assert 'name="questions" value="q0"' in page
        assert 'name="conditions"' not in page
        # the live preview follows every change, typed or pasted, debounced; it is sent
        # as a POST: a long poll in a non-Latin script would not fit in a URL
        assert 'hx-trigger="change, input changed delay:400ms, widget-form-changed from:body"' in (
            page
        )
        assert re.search(r'<form id="builder-form"[^>]*hx-post="[^"]*/builder/preview/"', page)
        assert "This targeting matches <strong" in page

    def test_no_builder_request_carries_the_form_in_its_url(self, login, owner, site):
        """Servers cap a request line at about 8 KB: a poll of ten questions in a
        non-Latin script is longer than that once percent-encoded, so the previews and
        the question and condition blocks send the form as a POST body."""
        catalogue(site)
        poll = WidgetFactory(
            site=site,
            kind="poll",
            targeting={
                "match": "all",
                "conditions": [{"type": "number", "key": "total_spend", "op": "gt", "value": 1}],
            },
        )
        QuestionFactory(widget=poll, position=0, kind="single", text="色は?", choices=["赤", "青"])
        page = html(login(owner).get(url(site, str(poll.pk))))

        gets = re.findall(r"<(\w+)[^>]*\shx-get=\"([^\"]+)\"[^>]*>", page)
        assert gets, "the builder's delete and remove controls still GET"
        for tag, target in gets:
            assert tag not in ("form", "select", "input", "textarea"), target
            assert target.endswith(("/builder/removed/", "/delete/")), target
        assert "hx-include" not in re.sub(r"<[^>]*hx-post=[^>]*>", "", page)

    def test_a_long_poll_in_japanese_adds_a_question(self, login, owner, site):
        data = builder_post(questions=[f"q{i}" for i in range(10)])
        for i in range(10):
            data |= {
                f"q{i}-kind": "single",
                f"q{i}-text": "この商品についてどう思いますか" * 5,
                f"q{i}-choices": "\n".join(["とても良い選択肢です" * 4] * 12),
            }

        response = login(owner).post(url(site, "builder/question"), data, **HX)

        assert response.status_code == 200
        assert 'name="questions" value="q10"' in html(response)

    def test_saving_a_poll_stores_fields_questions_and_targeting(self, login, owner, site):
        response = login(owner).post(url(site, "new"), builder_post())

        widget = Widget.objects.get()
        assert response.status_code == 302
        assert response["Location"] == url(site, widget.pk)
        assert (widget.site, widget.kind, widget.status) == (site, "poll", "draft")
        assert (widget.name, widget.thank_you_message, widget.url_contains) == (
            "Paying customers",
            "Thanks!",
            "/account",
        )
        assert widget.targeting == PAYING
        assert list(
            widget.questions.values_list("position", "kind", "text", "choices", "required")
        ) == [
            (0, "rating", "How happy are you?", [], True),
            (1, "single", "What first?", ["Delivery", "Prices"], False),
        ]

    def test_saving_a_feedback_tab_ignores_question_fields(self, login, owner, site):
        data = builder_post(kind="feedback", conditions=["c0"], name="Tab")

        response = login(owner).post(url(site, "new", query="?kind=feedback"), data)

        widget = Widget.objects.get()
        assert response.status_code == 302
        assert (widget.kind, widget.name) == ("feedback", "Tab")
        assert widget.targeting == {"match": "all", "conditions": [SPEND_GT_0]}
        assert not widget.questions.exists()

    def test_every_value_input_round_trips(self, login, owner, site):
        catalogue(site)
        data = builder_post(
            match="any",
            conditions=["c0", "c1", "c2", "c3", "c4", "c5"],
            **{
                "c0-op": "between",
                "c0-value": "100",
                "c0-value2": "10.5",
                "c1-op": "on",
                "c1-value": "2024-02-29",
                "c2-key": "tier",
                "c2-type": "string",
                "c2-op": "in",
                "c2-value": "gold, silver ,gold",
                "c3-key": "newsletter",
                "c3-type": "boolean",
                "c3-op": "is_true",
                "c3-value": "ignored",
                "c4-key": "@visitor",
                "c4-op": "anonymous",
                "c5-key": "plan",
                "c5-type": "number",
                "c5-op": "is_set",
            },
        )

        assert login(owner).post(url(site, "new"), data).status_code == 302

        widget = Widget.objects.get()
        assert widget.targeting == {
            "match": "any",
            "conditions": [
                {"type": "number", "key": "total_spend", "op": "between", "value": [10.5, 100]},
                {"type": "date", "key": "first_purchase", "op": "on", "value": "2024-02-29"},
                {"type": "string", "key": "tier", "op": "in", "value": ["gold", "silver"]},
                {"type": "boolean", "key": "newsletter", "op": "is_true"},
                {"type": "visitor", "op": "anonymous"},
                {"type": "number", "key": "plan", "op": "is_set"},
            ],
        }
        # and the edit page shows them again as they were entered
        page = html(login(owner).get(url(site, widget.pk)))
        assert 'name="c0-value" value="10.5"' in page
        assert 'name="c0-value2" value="100"' in page
        assert 'type="date" id="c1-value" name="c1-value" value="2024-02-29"' in page
        assert 'name="c2-value" value="gold, silver"' in page
        assert 'name="c3-value"' not in page
        assert '<option value="@visitor" selected>' in page
        assert '<option value="any" selected>' in page

    def test_editing_updates_the_widget(self, login, owner, site):
        widget = poll(site, status=Widget.Status.PAUSED)
        data = builder_post(
            name="Renamed", conditions=["c0"], questions=["q0"], **{"q0-kind": "text"}
        )

        response = login(owner).post(url(site, widget.pk), data)

        assert response.status_code == 302
        widget.refresh_from_db()
        assert (widget.name, widget.status) == ("Renamed", "paused")
        assert widget.targeting == {"match": "all", "conditions": [SPEND_GT_0]}
        assert list(widget.questions.values_list("kind", "text")) == [
            ("text", "How happy are you?")
        ]

    def test_the_edit_page_shows_the_saved_widget(self, login, owner, site):
        catalogue(site)
        widget = poll(site)

        page = html(login(owner).get(url(site, widget.pk)))

        assert 'id="q0-text"' not in page  # Django names it id_q0-text
        assert 'value="How happy are you?"' in page
        assert '<option value="total_spend" selected>total_spend (number)</option>' in page
        assert '<option value="gt" selected>&gt;</option>' in page
        assert 'name="c0-value" value="0"' in page
        assert '<option value="more_than_days_ago" selected>more than N days ago</option>' in page
        assert 'name="c1-value" value="10"' in page

    def test_a_date_condition_says_its_days_are_utc_days(self, login, owner, site):
        """A value stored at 23:30 in New York is on the next UTC day."""
        catalogue(site)
        on_a_day = {"type": "date", "key": "first_purchase", "op": "on", "value": "2019-06-20"}
        widget = poll(site, targeting={"match": "all", "conditions": [on_a_day]})

        page = html(login(owner).get(url(site, widget.pk)))

        assert 'name="c0-value" value="2019-06-20" class="value" aria-describedby="c0-utc"' in page
        assert '<span class="muted small" id="c0-utc">UTC day</span>' in page


class TestRuleErrors:
    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"c1-op": "contains"}, "“contains” is not an operator for date values."),
            ({"c0-value": "lots"}, "“lots” is not a number."),
            ({"c1-value": "-1"}, "The number of days must be between 0 and 36500."),
            ({"c1-value": "ten"}, "The number of days must be a whole number."),
            ({"c1-value": ""}, "Give a value."),
            ({"c0-op": "between", "c0-value2": ""}, "Give a value."),
            ({"c0-op": "between", "c0-value2": "x"}, "“between” needs two numbers."),
            ({"c1-op": "on", "c1-value": "2024-13-01"}, "Give a date as YYYY-MM-DD."),
            ({"c1-key": "", "c1-type": "", "c1-op": ""}, "Choose an attribute or a visitor"),
        ],
    )
    def test_a_bad_condition_is_an_inline_error_on_its_row_and_nothing_is_saved(
        self, login, owner, site, fields, message
    ):
        response = login(owner).post(url(site, "new"), builder_post(**fields))

        page = html(response)
        assert response.status_code == 400
        assert not Widget.objects.exists()
        error = re.search(r'<p class="error" role="alert" id="(c\d)-error">([^<]*)</p>', page)
        assert error.group(1) == next(iter(fields))[:2]
        assert error.group(2).startswith(message)
        assert page.count('role="alert" id="c') == 1
        assert "Nothing was saved" in page

    def test_a_bad_edit_leaves_the_widget_as_it_was(self, login, owner, site):
        widget = poll(site)
        before = state(site)

        response = login(owner).post(url(site, widget.pk), builder_post(**{"c0-value": "x"}))

        assert response.status_code == 400
        assert state(site) == before

    def test_a_key_changed_without_javascript_asks_to_check_the_row(self, login, owner, site):
        catalogue(site)
        stale = {"c0-key": "tier", "c0-type": "number", "c0-type_key": "total_spend"}

        response = login(owner).post(url(site, "new"), builder_post(**stale))

        page = html(response)
        assert response.status_code == 400
        assert "The attribute changed: check the operator and value." in page
        assert '<input type="hidden" name="c0-type" value="string">' in page
        assert not Widget.objects.exists()

    def test_field_and_rule_errors_show_together(self, login, owner, site):
        response = login(owner).post(
            url(site, "new"), builder_post(name="", **{"c0-value": "x", "q0-text": ""})
        )

        page = html(response)
        assert response.status_code == 400
        assert page.count("This field is required.") == 2  # name and question 1
        assert "“x” is not a number." in page

    def test_a_question_the_service_refuses_is_a_form_error(self, login, owner, site):
        response = login(owner).post(url(site, "new"), builder_post(**{"q1-choices": "Only"}))

        assert response.status_code == 400
        assert "Question 2 needs between 2 and 12 choices." in html(response)
        assert not Widget.objects.exists()

    def test_a_poll_without_questions_is_refused(self, login, owner, site):
        data = builder_post()
        del data["questions"]

        response = login(owner).post(url(site, "new"), data)

        assert response.status_code == 400
        assert "A poll needs at least one question." in html(response)
        assert not Widget.objects.exists()

    def test_attribute_conditions_on_an_active_widget_are_refused_while_disabled(
        self, login, owner, site
    ):
        widget = poll(site, targeting=IDENTIFIED)
        Site.objects.filter(pk=site.pk).update(user_attributes_enabled=False)
        before = state(site)

        response = login(owner).post(url(site, widget.pk), builder_post())

        assert response.status_code == 400
        assert "User Attributes were disabled for this site" in html(response)
        assert state(site) == before


class TestWithoutJavaScript:
    def test_add_condition_button_adds_a_row_and_saves_nothing(self, login, owner, site):
        response = login(owner).post(url(site, "new"), builder_post(builder_action="add_condition"))

        page = html(response)
        assert response.status_code == 200
        assert re.findall(r'name="conditions" value="(c\d)"', page) == ["c0", "c1", "c2"]
        assert 'id="c2-key" name="c2-key" autofocus' in page
        assert not Widget.objects.exists()

    def test_remove_buttons_remove_their_block(self, login, owner, site):
        client = login(owner)

        page = html(
            client.post(url(site, "new"), builder_post(builder_action="remove_condition:c0"))
        )
        assert re.findall(r'name="conditions" value="(c\d)"', page) == ["c1"]

        page = html(
            client.post(url(site, "new"), builder_post(builder_action="remove_question:q0"))
        )
        assert re.findall(r'name="questions" value="(q\d)"', page) == ["q1"]
        assert not Widget.objects.exists()

    @pytest.mark.parametrize("action", ["add_condition", "add_question", "refresh"])
    def test_editing_a_form_not_filled_in_yet_judges_nothing(self, login, owner, site, action):
        data = builder_post(name="", builder_action=action, **{"q1-text": "Typed so far"})

        response = login(owner).post(url(site, "new"), data)

        page = html(response)
        assert response.status_code == 200
        assert "Nothing was saved" not in page
        assert "This field is required" not in page
        assert 'value="Typed so far"' in page
        assert not Widget.objects.exists()

    def test_a_key_chosen_without_its_operators_asks_for_them(self, login, owner, site):
        catalogue(site)
        fresh = {"conditions": ["c0"], "c0-key": "tier", "c0-type": "", "c0-op": ""}

        response = login(owner).post(url(site, "new"), builder_post(**fresh))

        assert response.status_code == 400
        assert "Choose the operator: “Update the form” shows this attribute&#x27;s." in html(
            response
        )
        assert "Choose an attribute or a visitor condition" not in html(response)
        assert not Widget.objects.exists()

    @pytest.mark.parametrize(
        ("action", "order"),
        [
            ("move_question_up:q1", ["q1", "q0"]),
            ("move_question_down:q0", ["q1", "q0"]),
            ("move_question_up:q0", ["q0", "q1"]),  # already first: stays
            ("move_question_down:q1", ["q0", "q1"]),
        ],
    )
    def test_move_buttons_move_a_question_block(self, login, owner, site, action, order):
        response = login(owner).post(url(site, "new"), builder_post(builder_action=action))

        assert re.findall(r'name="questions" value="(q\d)"', html(response)) == order
        assert not Widget.objects.exists()

    def test_a_moved_question_keeps_its_answers(self, login, owner, site):
        poll = WidgetFactory(site=site, kind="poll")
        first = QuestionFactory(widget=poll, position=0, kind="rating", text="Happy?", choices=[])
        second = QuestionFactory(widget=poll, position=1, kind="text", text="Why?", choices=[])
        data = builder_post(questions=["q1", "q0"], **{"q0-id": first.pk, "q1-id": second.pk})
        data |= {"q0-kind": "rating", "q0-text": "Happy?", "q1-kind": "text", "q1-text": "Why?"}

        response = login(owner).post(url(site, poll.pk), data)

        assert response.status_code == 302
        assert list(poll.questions.order_by("position").values_list("pk", "text")) == [
            (second.pk, "Why?"),
            (first.pk, "Happy?"),
        ]

    def test_add_question_button_adds_a_block(self, login, owner, site):
        response = login(owner).post(url(site, "new"), builder_post(builder_action="add_question"))

        assert re.findall(r'name="questions" value="(q\d)"', html(response)) == ["q0", "q1", "q2"]
        assert not Widget.objects.exists()


class TestConditionRow:
    def row(self, client, site, **params):
        response = client.post(url(site, "builder/condition"), params, **HX)
        assert response.status_code == 200
        return html(response)

    def options(self, page, name):
        select = re.search(rf'<select id="{name}".*?</select>', page, re.S).group(0)
        return re.findall(r'<option value="([^"]*)"', select)

    def test_a_new_row_offers_the_sites_keys_with_types_and_the_visitor(self, login, owner, site):
        catalogue(site)

        page = self.row(login(owner), site, conditions=["c0", "c4"])

        assert 'name="conditions" value="c5"' in page
        assert self.options(page, "c5-key") == [
            "",
            "first_purchase",
            "newsletter",
            "plan",
            "tier",
            "total_spend",
            "@visitor",
        ]
        assert "first_purchase (date)" in page
        assert "plan (number, string: type conflict)" in page
        assert 'id="c5-op"' not in page

    @pytest.mark.parametrize(
        ("key", "ops"),
        [
            (
                "total_spend",
                ["eq", "ne", "gt", "gte", "lt", "lte", "between", "is_set", "is_not_set"],
            ),
            (
                "tier",
                [
                    "equals",
                    "not_equals",
                    "contains",
                    "not_contains",
                    "starts_with",
                    "ends_with",
                    "in",
                    "is_set",
                    "is_not_set",
                ],
            ),
            (
                "first_purchase",
                [
                    "before",
                    "after",
                    "on",
                    "more_than_days_ago",
                    "less_than_days_ago",
                    "is_set",
                    "is_not_set",
                ],
            ),
            ("newsletter", ["is_true", "is_false", "is_set", "is_not_set"]),
            ("@visitor", ["identified", "anonymous"]),
        ],
    )
    def test_choosing_a_key_offers_only_the_operators_of_its_type(
        self, login, owner, site, key, ops
    ):
        catalogue(site)

        page = self.row(login(owner), site, prefix="c2", **{"c2-key": key, "c2-op": "gt"})

        assert self.options(page, "c2-op") == ops
        assert 'id="c2-type"' not in page  # one type: nothing to choose

    def test_a_key_with_a_type_conflict_lets_the_user_pick_the_type(self, login, owner, site):
        catalogue(site)
        client = login(owner)

        page = self.row(client, site, prefix="c0", **{"c0-key": "plan"})
        assert self.options(page, "c0-type") == ["number", "string"]
        assert '<option value="string" selected>as string</option>' in page
        assert "in" in self.options(page, "c0-op")

        page = self.row(client, site, prefix="c0", **{"c0-key": "plan", "c0-type": "number"})
        assert self.options(page, "c0-op")[0] == "eq"

    def test_changing_the_key_drops_the_old_keys_type(self, login, owner, site):
        # given a row showing total_spend (a number) with "between"
        catalogue(site)
        stale = {"c0-key": "tier", "c0-type": "number", "c0-type_key": "total_spend"}

        # when the key becomes tier (a string)
        page = self.row(login(owner), site, prefix="c0", **stale, **{"c0-op": "between"})

        # then the row is a string row, and remembers it was fitted to tier
        assert 'id="c0-type"' not in page
        assert '<input type="hidden" name="c0-type" value="string">' in page
        assert '<input type="hidden" name="c0-type_key" value="tier">' in page
        assert self.options(page, "c0-op")[0] == "equals"

    def test_a_saved_condition_keeps_a_type_the_catalogue_never_saw(self, login, owner, site):
        catalogue(site)
        odd = {"type": "string", "key": "total_spend", "op": "equals", "value": "500"}
        widget = poll(site, targeting={"match": "all", "conditions": [odd]})

        page = html(login(owner).get(url(site, widget.pk)))

        assert self.options(page, "c0-type") == ["number", "string"]
        assert '<option value="string" selected>as string</option>' in page
        assert '<option value="equals" selected>equals</option>' in page

    @pytest.mark.parametrize(
        ("key", "op", "inputs"),
        [
            ("total_spend", "gt", ['type="number" step="any" id="c0-value"']),
            (
                "total_spend",
                "between",
                [
                    'type="number" step="any" id="c0-value"',
                    'type="number" step="any" id="c0-value2"',
                ],
            ),
            ("tier", "equals", ['type="text" id="c0-value"']),
            (
                "tier",
                "in",
                ['type="text" id="c0-value" name="c0-value" value="" placeholder="gold, silver"'],
            ),
            ("first_purchase", "before", ['type="date" id="c0-value"']),
            (
                "first_purchase",
                "more_than_days_ago",
                ['type="number" min="0" step="1" id="c0-value"'],
            ),
            ("newsletter", "is_true", []),
            ("total_spend", "is_set", []),
            ("@visitor", "identified", []),
        ],
    )
    def test_value_inputs_fit_the_operator(self, login, owner, site, key, op, inputs):
        catalogue(site)

        page = self.row(login(owner), site, prefix="c0", **{"c0-key": key, "c0-op": op})

        found = re.findall(r'<input type="(?:number|text|date)"[^>]*>', page)
        assert len(found) == len(inputs)
        for tag, expected in zip(found, inputs, strict=True):
            assert tag.startswith(f"<input {expected}")

    def test_a_re_rendered_row_keeps_its_values_and_refreshes_the_previews(
        self, login, owner, site
    ):
        catalogue(site)

        response = login(owner).post(
            url(site, "builder/condition"),
            {
                "prefix": "c3",
                "c3-key": "total_spend",
                "c3-op": "between",
                "c3-value": "5",
                "c3-value2": "9",
            },
            **HX,
        )

        page = html(response)
        assert 'name="c3-value" value="5"' in page
        assert 'name="c3-value2" value="9"' in page
        assert "autofocus" not in page
        assert response["HX-Trigger-After-Swap"] == "widget-form-changed"

    def test_a_bad_prefix_is_refused(self, login, owner, site):
        response = login(owner).post(url(site, "builder/condition"), {"prefix": "x1"})

        assert response.status_code == 400

    def test_question_blocks_show_choices_only_for_choice_questions(self, login, owner, site):
        client = login(owner)

        new = html(client.post(url(site, "builder/question"), {"questions": ["q0", "q1"]}, **HX))
        assert 'name="questions" value="q2"' in new
        assert 'name="q2-choices"' in new

        rating = html(
            client.post(
                url(site, "builder/question"),
                {"prefix": "q0", "q0-kind": "rating", "q0-text": "How?"},
                **HX,
            )
        )
        assert '<textarea name="q0-choices"' not in rating
        assert 'value="How?"' in rating

    def test_a_questions_choices_survive_trying_another_kind(self, login, owner, site):
        client = login(owner)
        choices = "Red\nGreen\nBlue"

        rating = html(
            client.post(
                url(site, "builder/question"),
                {"prefix": "q0", "q0-kind": "rating", "q0-text": "Colour?", "q0-choices": choices},
                **HX,
            )
        )
        kept = re.findall(r'<input type="hidden" name="q0-choices" value="([^"]*)"', rating)
        assert kept == [choices]
        back = html(
            client.post(
                url(site, "builder/question"),
                {"prefix": "q0", "q0-kind": "single", "q0-text": "Colour?", "q0-choices": choices},
                **HX,
            )
        )
        assert re.search(r'<textarea name="q0-choices"[^>]*>\s*Red\nGreen\nBlue</textarea>', back)

    def test_a_question_saved_without_choices_ignores_the_ones_it_carries(self, login, owner, site):
        data = builder_post(**{"q0-kind": "rating", "q0-choices": "x" * 500})

        response = login(owner).post(url(site, "new"), data)

        assert response.status_code == 302
        rating = Widget.objects.get(site=site).questions.get(position=0)
        assert (rating.kind, rating.choices) == ("rating", [])

    def test_a_removed_block_leaves_nothing_and_refreshes_the_previews(self, login, owner, site):
        response = login(owner).get(url(site, "builder/removed"), **HX)

        assert (response.status_code, response.content) == (200, b"")
        assert response["HX-Trigger-After-Swap"] == "widget-form-changed"


class TestPreview:
    def test_a_nul_character_is_an_error_in_the_count_and_on_save(self, login, owner, site):
        client = login(owner)
        data = builder_post(**{"c0-key": "tier", "c0-type": "string", "c0-op": "equals"})
        data["c0-value"] = "a\x00b"

        preview = client.post(url(site, "builder/preview"), data)
        saved = client.post(url(site, "new"), data)

        assert preview.status_code == 200
        assert "Texts cannot contain the NUL character" in html(preview)
        assert saved.status_code == 400
        assert "Texts cannot contain the NUL character" in html(saved)
        assert not Widget.objects.filter(site=site).exists()

    def profiles(self, site, now):
        """Seven profiles, two of which are paying customers who bought > 10 days ago."""

        def person(spend=None, bought_days_ago=None, spend_type=ValueType.NUMBER):
            profile = ProfileFactory(site=site)
            if spend is not None:
                fields = (
                    {"number_value": spend}
                    if spend_type == ValueType.NUMBER
                    else {"number_value": None, "string_value": str(spend)}
                )
                AttributeValueFactory(
                    site=site, profile=profile, key="total_spend", value_type=spend_type, **fields
                )
            if bought_days_ago is not None:
                AttributeValueFactory(
                    site=site,
                    profile=profile,
                    key="first_purchase",
                    value_type=ValueType.DATE,
                    number_value=None,
                    date_value=now - timedelta(days=bought_days_ago),
                )

        person(50, 30)  # matches
        person(75, 11)  # matches
        person(0, 30)  # spent nothing
        person(20, 2)  # bought recently
        person(10, 30, spend_type=ValueType.STRING)  # spend stored as text
        person(100)  # never bought
        person()  # nothing known

    def preview(self, client, site, **overrides):
        data = builder_post(**overrides)
        response = client.post(url(site, "builder/preview"), data, **HX)
        assert response.status_code == 200
        return html(response)

    def test_the_count_is_exactly_what_the_database_holds(self, login, owner, site, other_site):
        now = timezone.now()
        self.profiles(site, now)
        self.profiles(other_site, now)  # the same people on another account's site
        spenders = AttributeValue.objects.filter(
            site=site, key="total_spend", value_type="number", number_value__gt=0
        ).values_list("profile_id", flat=True)
        bought_long_ago = AttributeValue.objects.filter(
            site=site,
            key="first_purchase",
            value_type="date",
            date_value__lt=now - timedelta(days=10),
        ).values_list("profile_id", flat=True)
        expected = len(set(spenders) & set(bought_long_ago))
        assert expected == 2

        page = self.preview(login(owner), site)

        assert (
            f'This targeting matches <strong id="preview-count">{expected}</strong> profiles'
            in (page)
        )
        # and the widget preview comes along, out of band
        assert '<div id="widget-preview" hx-swap-oob="innerHTML">' in page
        assert "How happy are you?" in page
        assert "Delivery" in page

    @pytest.mark.parametrize(
        ("overrides", "newcomers"),
        [
            ({}, False),  # paying customers: someone new is not one
            ({"conditions": []}, True),  # everyone
            ({"conditions": ["c0"], "c0-op": "is_not_set"}, True),
            (
                {
                    "conditions": ["c0", "c9"],
                    "match": "any",
                    "c9-key": "@visitor",
                    "c9-op": "anonymous",
                },
                True,
            ),
            ({"conditions": ["c9"], **IDENTIFIED_ROW}, False),
        ],
        ids=["paying", "everyone", "not-set", "or-anonymous", "identified"],
    )
    def test_the_count_says_when_visitors_without_a_profile_match_too(
        self, login, owner, site, overrides, newcomers
    ):
        """Visitors never identified and without attributes have no profile to count,
        but a rule an empty anonymous visitor passes shows them the widget: the count
        says so rather than look like the widget's whole audience."""
        page = self.preview(login(owner), site, **overrides)

        assert 'id="preview-count">' in page
        assert ('id="preview-newcomers"' in page) is newcomers

    def test_a_text_value_is_saved_and_counted_as_typed(self, login, owner, site):
        """ "gold " (a padded column sent as it is) is what the rule compares with: not
        "gold", which a silent trim would have saved and counted instead."""
        for n, tier in enumerate(("gold ", "gold")):
            visitor_identify(
                site=site,
                visitor_id=f"tier{n}".ljust(20, "x"),
                user_id=f"t{n}",
                attributes={"tier": tier},
            )
        typed = {"conditions": ["c0"], "c0-key": "tier", "c0-type": "string", "c0-op": "equals"}
        client = login(owner)

        page = self.preview(client, site, **typed, **{"c0-value": "gold "})
        client.post(url(site, "new"), builder_post(**typed, **{"c0-value": "gold "}))

        assert 'id="preview-count">1</strong>' in page
        saved = Widget.objects.get(site=site).targeting["conditions"]
        assert saved == [{"type": "string", "key": "tier", "op": "equals", "value": "gold "}]
        blank = self.preview(client, site, **typed, **{"c0-value": "  "})
        assert 'id="preview-waiting"' in blank  # spaces alone are no value yet

    def test_the_count_follows_the_rule(self, login, owner, site):
        self.profiles(site, timezone.now())
        client = login(owner)

        any_of = self.preview(client, site, match="any")
        assert 'id="preview-count">6</strong>' in any_of  # all but the one with nothing
        nobody = self.preview(client, site, conditions=["c0"], **{"c0-op": "gt", "c0-value": "500"})
        assert 'id="preview-count">0</strong> profiles' in nobody
        everyone = self.preview(client, site, conditions=[])
        assert 'id="preview-count">7</strong>' in everyone

    def test_one_profile_is_singular(self, login, owner, site):
        ProfileFactory(site=site, user_id="u1")

        page = self.preview(login(owner), site, conditions=["c9"], **IDENTIFIED_ROW)

        assert 'id="preview-count">1</strong> profile now.' in page

    def test_a_row_without_a_key_yet_is_left_out(self, login, owner, site):
        self.profiles(site, timezone.now())

        page = self.preview(login(owner), site, **{"c1-key": "", "c1-type": "", "c1-op": ""})

        assert 'id="preview-count">4</strong>' in page  # total_spend > 0 alone

    def test_errors_show_instead_of_a_count(self, login, owner, site):
        page = self.preview(login(owner), site, **{"c1-value": "-3"})

        assert 'id="preview-count"' not in page
        assert "No count yet: The number of days must be between 0 and 36500." in page

    @pytest.mark.parametrize(
        "fields",
        [{"c0-value": ""}, {"c1-op": "on", "c1-value": ""}, {"c0-op": "between", "c0-value2": ""}],
    )
    def test_a_condition_waiting_for_its_value_is_no_error(self, login, owner, site, fields):
        page = self.preview(login(owner), site, **fields)

        assert 'id="preview-count"' not in page
        assert 'class="error"' not in page
        assert "Give each condition its value to see how many profiles match." in page

    def test_the_poll_preview_goes_question_by_question_as_the_live_poll(self, login, owner, site):
        page = self.preview(login(owner), site)

        first, second = page.split('class="wp-card wp-step"')[1:]
        assert "Question 1 of 2" in first
        assert ">Next</span>" in first
        assert "Question 2 of 2" in second
        assert ">Submit</span>" in second
        # The email and its consent come with the last question only, as in the poll.
        assert "Your email (optional)" not in first
        assert "Your email (optional)" in second

    def test_the_feedback_preview_is_the_tab(self, login, owner, site):
        page = self.preview(login(owner), site, kind="feedback")

        assert '<span class="wp-tab" lang="en">Feedback</span>' in page
        assert "How happy are you?" not in page
        # in the words of the live tab, which the served script carries
        for key in ["feedback_title", "tell_more", "email_label", "consent_label", "send_feedback"]:
            assert WIDGET_TEXTS["en"][key] in page
            assert f't("{key}")' in SCRIPT_PATH.read_text()


# --- activation ------------------------------------------------------------------------


class TestActivation:
    def test_activating_from_the_edit_page_saves_the_targeting_on_the_screen_first(
        self, login, owner, site
    ):
        widget = poll(
            site, status=Widget.Status.DRAFT, targeting={"match": "all", "conditions": []}
        )
        page = html(login(owner).get(url(site, widget.pk)))
        assert re.search(
            r'<button type="submit" form="builder-form" name="builder_action" '
            r'value="activate"[^>]*>Save and activate</button>',
            page,
        )

        response = login(owner).post(
            url(site, widget.pk), builder_post(builder_action="activate"), follow=True
        )

        widget.refresh_from_db()
        assert widget.status == "active"
        assert widget.targeting == PAYING  # not the empty rule it had: nobody else sees it
        assert "“Paying customers” is saved and active." in html(response)

    def test_a_bad_edit_activates_nothing(self, login, owner, site):
        widget = poll(site, status=Widget.Status.DRAFT)
        before = state(site)

        response = login(owner).post(
            url(site, widget.pk), builder_post(builder_action="activate", **{"c0-value": "x"})
        )

        assert response.status_code == 400
        assert state(site) == before

    def test_an_activation_refused_after_saving_says_the_edit_was_kept(self, login, owner, site):
        widget = poll(site, status=Widget.Status.DRAFT)
        user_attributes_disable(site=site, user=owner, client_ip=None)

        response = login(owner).post(
            url(site, widget.pk),
            builder_post(name="Renamed", builder_action="activate"),
            follow=True,
        )

        widget.refresh_from_db()
        assert (widget.name, widget.status) == ("Renamed", "draft")
        assert "“Renamed” is saved but not active: User Attributes were disabled" in html(response)

    def test_pausing_from_the_edit_page_keeps_the_edits(self, login, owner, site):
        widget = poll(site)

        response = login(owner).post(
            url(site, widget.pk), builder_post(name="Renamed", builder_action="pause"), follow=True
        )

        widget.refresh_from_db()
        assert (widget.name, widget.status) == ("Renamed", "paused")
        assert "“Renamed” is saved and paused." in html(response)
        assert 'value="activate" id="activate-widget">Save and activate</button>' in html(response)

    def test_pausing_never_waits_for_edits_that_cannot_be_saved(self, login, owner, site):
        widget = poll(site)

        response = login(owner).post(
            url(site, widget.pk),
            builder_post(name="Renamed", builder_action="pause", **{"c0-value": "x"}),
        )

        page = html(response)
        assert response.status_code == 400
        widget.refresh_from_db()
        assert (widget.name, widget.status) == ("Paying customers", "paused")
        assert "“Paying customers” is paused. Your edits are not saved yet" in page
        assert 'value="Renamed"' in page  # the edits stay on the page

    def test_a_new_widget_is_saved_and_activated_in_one_go(self, login, owner, site):
        response = login(owner).post(url(site, "new"), builder_post(builder_action="activate"))

        assert response.status_code == 302
        assert Widget.objects.get(site=site).status == "active"

    def test_refused_activation_shows_the_reason_on_the_list(self, login, owner, site):
        # given a widget targeting on attributes, switched off when User Attributes went off
        widget = poll(site)
        user_attributes_disable(site=site, user=owner, client_ip=None)
        client = login(owner)

        # when the owner tries to switch it on again from the list
        response = client.post(url(site, widget.pk, "activate"), follow=True)

        # then it stays off and the page says why
        page = html(response)
        assert Widget.objects.get(pk=widget.pk).status == "disabled"
        assert "was not activated: User Attributes were disabled for this site" in page
        assert "Remove the attribute conditions, or enable User Attributes for this site." in page
        assert REASON_UA_DISABLED in page  # the row's reason
        assert 'id="site-notice"' in page

    def test_refused_activation_with_htmx_shows_the_reason_in_the_row(self, login, owner, site):
        widget = poll(site)
        user_attributes_disable(site=site, user=owner, client_ip=None)

        response = login(owner).post(url(site, widget.pk, "activate"), **HX)

        page = html(response)
        assert response.status_code == 400
        assert page.lstrip().startswith(f'<tr id="widget-{widget.pk}"')
        assert '<p class="error" role="alert">' in page
        assert "Remove the attribute conditions, or enable User Attributes for this site." in page
        assert "HX-Request" in response["Vary"]
        assert Widget.objects.get(pk=widget.pk).status == "disabled"

    def test_refused_activation_shows_the_reason_on_the_edit_page(self, login, owner, site):
        widget = poll(site)
        user_attributes_disable(site=site, user=owner, client_ip=None)

        response = login(owner).post(
            url(site, widget.pk), builder_post(builder_action="activate"), follow=True
        )

        page = html(response)
        assert response.redirect_chain == [(url(site, widget.pk), 302)]
        assert "is saved but not active: User Attributes were disabled for this site" in page
        notice = re.search(r'<div class="notice danger" id="disabled-notice".*?</div>', page)
        assert notice.group(0).endswith(f"</strong> {REASON_UA_DISABLED}</div>")

    def test_activating_with_htmx_swaps_the_row(self, login, owner, site):
        widget = poll(site, status=Widget.Status.DRAFT)

        response = login(owner).post(url(site, widget.pk, "activate"), **HX)

        assert response.status_code == 200
        assert 'data-status="active"' in html(response)
        assert url(site, widget.pk, "pause") in html(response)
        assert Widget.objects.get(pk=widget.pk).status == "active"

    def test_a_visitor_only_widget_may_run_while_attributes_are_off(self, login, owner, site):
        widget = poll(site, targeting=IDENTIFIED, status=Widget.Status.DRAFT)
        Site.objects.filter(pk=site.pk).update(user_attributes_enabled=False)

        login(owner).post(url(site, widget.pk, "activate"))

        assert Widget.objects.get(pk=widget.pk).status == "active"

    def test_pausing_a_paused_widget_says_so(self, login, owner, site):
        widget = poll(site, status=Widget.Status.PAUSED)

        page = html(login(owner).post(url(site, widget.pk, "pause"), follow=True))

        assert "Only an active widget can be paused." in page


class TestDelete:
    def test_the_confirmation_is_a_dialog_with_htmx(self, login, owner, site):
        widget = poll(site)

        response = login(owner).get(url(site, widget.pk, "delete"), **HX)

        page = html(response)
        assert page.startswith("<dialog")
        assert f'action="{url(site, widget.pk, "delete")}"' in page
        assert "HX-Request" in response["Vary"]
        assert Widget.objects.filter(pk=widget.pk).exists()

    def test_confirming_deletes_the_widget_and_its_responses(self, login, owner, site):
        widget = poll(site)
        ResponseFactory(widget=widget)
        keep = poll(site, name="Keep")

        response = login(owner).post(url(site, widget.pk, "delete"))

        assert response.status_code == 302
        assert response["Location"] == url(site)
        assert list(Widget.objects.values_list("pk", flat=True)) == [keep.pk]


# --- results ----------------------------------------------------------------------------


@pytest.fixture
def answered_poll(site):
    """A poll with a rating, a multiple-choice and a text question, and three responses."""
    widget = WidgetFactory(site=site, name="Shop poll", kind="poll")
    rating = QuestionFactory(widget=widget, position=0, kind="rating", text="Happy?", choices=[])
    pick = QuestionFactory(
        widget=widget, position=1, kind="multiple", text="Which?", choices=["Books", "Maps"]
    )
    text = QuestionFactory(
        widget=widget, position=2, kind="text", text="Anything else?", choices=[], required=False
    )
    now = timezone.now()
    first = ResponseFactory(
        widget=widget,
        answers={str(rating.pk): 5, str(pick.pk): ["Books", "Maps"], str(text.pk): "=HYPERLINK(1)"},
        email="rachel@example.com",
        consent_to_connect=True,
        created_at=now - timedelta(hours=2),
        profile=ProfileFactory(site=site, user_id="ABC"),
        page_url="https://shop.example.com/account?tab=orders",
    )
    AttributeValueFactory(site=site, profile=first.profile, key="total_spend", number_value=500)
    ResponseFactory(
        widget=widget,
        answers={str(rating.pk): 5, str(pick.pk): ["Books"]},
        created_at=now - timedelta(hours=1),
        profile=ProfileFactory(site=site, user_id="-2+3"),
    )
    ResponseFactory(
        widget=widget,
        answers={str(rating.pk): 2},
        email="not-consented@example.com",
        created_at=now,
        profile=ProfileFactory(site=site, user_id=None),
    )
    return widget


class TestResults:
    def test_the_results_name_the_pages_a_widget_is_limited_to(self, login, member, answered_poll):
        Widget.objects.filter(pk=answered_poll.pk).update(url_contains="/checkout")

        page = html(login(member).get(url(answered_poll.site, answered_poll.pk, "results")))

        assert '<span id="results-pages">on pages containing <code>/checkout</code></span>' in page

    def test_removing_a_question_leaves_the_others_with_their_own_answers(
        self, login, owner, answered_poll
    ):
        site = answered_poll.site
        rating, pick, text = answered_poll.questions.all()
        edit = html(login(owner).get(url(site, answered_poll.pk)))
        assert f'name="q0-id" value="{rating.pk}"' in edit
        assert f'name="q2-id" value="{text.pk}"' in edit

        # The owner removes the first question (the rating) and saves.
        fields = {"q1-kind": "multiple", "q1-text": "Which?", "q1-choices": "Books\nMaps"}
        fields |= {"q1-id": str(pick.pk), "q2-id": str(text.pk), "q2-kind": "text"}
        fields |= {"q2-text": "Anything else?", "q1-required": "on"}
        saved = login(owner).post(
            url(site, answered_poll.pk),
            builder_post(name="Shop poll", questions=["q1", "q2"], **fields),
        )

        assert saved.status_code == 302
        assert list(answered_poll.questions.values_list("pk", "position")) == [
            (pick.pk, 0),
            (text.pk, 1),
        ]
        page = html(login(owner).get(url(site, answered_poll.pk, "results")))
        chart = re.search(r'<figure class="chart" id="chart-1".*?</figure>', page, re.S).group(0)
        assert (
            '<figcaption class="sr-only" id="chart-1-title">Which?: 2 answered. Books: 2 (100%); '
            "Maps: 1 (50%)</figcaption>"
        ) in chart

    def test_a_responses_answer_to_a_removed_question_stays_listed(
        self, login, member, answered_poll
    ):
        which = answered_poll.questions.get(text="Which?")
        removed = which.pk
        which.delete()

        page = html(login(member).get(url(answered_poll.site, answered_poll.pk, "results")))

        newest, _, oldest = (
            answers.strip() for answers in re.findall(r'<dl class="answers">(.*?)</dl>', page, re.S)
        )
        assert newest == "<dt>Happy?</dt><dd>2</dd>"
        assert oldest == (
            "<dt>Happy?</dt><dd>5</dd><dt>Anything else?</dt><dd>=HYPERLINK(1)</dd>"
            f"<dt>removed question (id {removed})</dt><dd>Books, Maps</dd>"
        )

    def test_counts_per_answer_as_an_accessible_chart(self, login, member, answered_poll):
        site = answered_poll.site

        page = html(login(member).get(url(site, answered_poll.pk, "results")))

        assert '<strong id="total-responses">3</strong> responses' in page
        chart = re.search(r'<figure class="chart" id="chart-1".*?</figure>', page, re.S).group(0)
        assert 'aria-labelledby="chart-1-title"' in chart
        assert (
            '<figcaption class="sr-only" id="chart-1-title">Happy?: 3 answered. 1: 0 (0%); '
            "2: 1 (33%); 3: 0 (0%); 4: 0 (0%); 5: 2 (67%)</figcaption>"
        ) in chart
        bars = re.findall(r'data-label="([^"]*)" data-count="(\d+)" data-percent="(\d+)"', chart)
        assert bars == [
            ("1", "0", "0"),
            ("2", "1", "33"),
            ("3", "0", "0"),
            ("4", "0", "0"),
            ("5", "2", "67"),
        ]
        assert '<span class="bar-value">2 · 67%</span>' in chart
        widths = re.findall(r'style="width: ([\d.]+)%"', chart)
        assert widths == ["0.0", "50.0", "0.0", "0.0", "100.0"]  # the largest bar is full
        multiple = re.search(r'<figure class="chart" id="chart-2".*?</figure>', page, re.S)
        assert re.findall(r'data-label="([^"]*)" data-count="(\d+)"', multiple.group(0)) == [
            ("Books", "2"),
            ("Maps", "1"),
        ]
        assert 'id="chart-3"' not in page  # text answers are listed, not charted
        assert "<li>=HYPERLINK(1)</li>" in page

    def test_responses_with_email_only_if_consented_and_attributes(
        self, login, owner, answered_poll
    ):
        page = html(login(owner).get(url(answered_poll.site, answered_poll.pk, "results")))

        assert page.count("<tr data-response=") == 3
        assert "rachel@example.com" in page
        assert "not-consented@example.com" not in page
        assert "<code>total_spend</code> 500<br>" in page
        assert "<code>ABC</code>" in page
        assert "anonymous visitor" in page
        assert "<dt>Which?</dt><dd>Books, Maps</dd>" in page

    def test_feedback_shows_the_emotion_distribution(self, login, owner, site):
        widget = WidgetFactory(site=site, kind="feedback", name="Tab")
        for emotion in (5, 5, 4, 1):
            ResponseFactory(widget=widget, emotion=emotion, comment="ok")

        page = html(login(owner).get(url(site, widget.pk, "results")))

        chart = re.search(r'<figure class="chart" id="chart-emotions".*?</figure>', page, re.S)
        chart = chart.group(0)
        assert re.findall(
            r'data-label="([^"]*)" data-count="(\d+)" data-percent="(\d+)"', chart
        ) == [
            ("Hate", "1", "25"),
            ("Dislike", "0", "0"),
            ("Neutral", "0", "0"),
            ("Like", "1", "25"),
            ("Love", "2", "50"),
        ]
        assert "<strong>Love</strong><br>ok" in page

    def test_no_responses_yet(self, login, owner, site):
        widget = poll(site)

        page = html(login(owner).get(url(site, widget.pk, "results")))

        assert '<strong id="total-responses">0</strong> responses' in page
        assert "No responses yet." in page


@pytest.fixture
def busy_poll(site):
    """A poll with a rating and a text question and 105 responses, one a minute, the
    newest last; each responder has a profile with one attribute."""
    widget = WidgetFactory(site=site, name="Busy poll", kind="poll")
    rating = QuestionFactory(widget=widget, position=0, kind="rating", text="Happy?", choices=[])
    note = QuestionFactory(
        widget=widget, position=1, kind="text", text="Why?", choices=[], required=False
    )
    start = timezone.now() - timedelta(days=1)
    for n in range(105):
        response = ResponseFactory(
            widget=widget,
            answers={str(rating.pk): n % 5 + 1, str(note.pk): f"note {n}"},
            created_at=start + timedelta(minutes=n),
        )
        AttributeValueFactory(site=site, profile=response.profile, key="plan", string_value="pro")
    return widget


def rows_shown(page: str) -> list[str]:
    return re.findall(r"<tr data-response=.*?<dd>(note \d+)</dd>", page, re.S)


class TestResultsAtScale:
    def test_counts_cover_every_response_while_the_table_shows_the_newest_page(
        self, login, owner, busy_poll
    ):
        page = html(login(owner).get(url(busy_poll.site, busy_poll.pk, "results")))

        assert '<strong id="total-responses">105</strong> responses' in page
        chart = re.search(r'<figure class="chart" id="chart-1".*?</figure>', page, re.S).group(0)
        assert re.findall(r'data-label="([^"]*)" data-count="(\d+)"', chart) == [
            (str(n), "21") for n in range(1, 6)
        ]
        texts = re.search(r'<ul class="text-answers">(.*?)</ul>', page, re.S).group(1)
        assert re.findall(r"<li>(note \d+)</li>", texts) == [f"note {n}" for n in range(104, 4, -1)]
        assert "The latest 100 of 105; the CSV export has them all." in page
        assert rows_shown(page) == [f"note {n}" for n in range(104, 4, -1)]
        assert "Responses 1\u2013100 of 105, newest first" in page
        assert '<a href="?page=2#responses-section" rel="next">Older →</a>' in page
        assert 'rel="prev"' not in page
        assert "Page 1 of 2" in page

    def test_the_next_page_shows_the_oldest_responses(self, login, owner, busy_poll):
        client = login(owner)

        page = html(client.get(url(busy_poll.site, busy_poll.pk, "results", query="?page=2")))

        assert rows_shown(page) == [f"note {n}" for n in range(4, -1, -1)]
        assert "Responses 101\u2013105 of 105, newest first" in page
        assert '<a href="?page=1#responses-section" rel="prev">← Newer</a>' in page
        assert 'rel="next"' not in page
        assert '<strong id="total-responses">105</strong>' in page  # counts stay whole

    @pytest.mark.parametrize(("asked", "shown"), [("abc", 1), ("99", 2), ("", 1)])
    def test_a_page_number_out_of_range_or_not_a_number_shows_a_real_page(
        self, login, owner, busy_poll, asked, shown
    ):
        query = f"?page={asked}"

        response = login(owner).get(url(busy_poll.site, busy_poll.pk, "results", query=query))

        assert response.status_code == 200
        assert f"Page {shown} of 2" in html(response)

    def test_counts_single_choices_and_skip_empty_answers(self, site):
        widget = WidgetFactory(site=site, kind="poll")
        single = QuestionFactory(widget=widget, position=0, kind="single", choices=["Yes", "No"])
        pick = QuestionFactory(widget=widget, position=1, kind="multiple", choices=["A", "B"])
        note = QuestionFactory(widget=widget, position=2, kind="text", choices=[])
        for answers in (
            {str(single.pk): "Yes", str(pick.pk): ["A", "B"], str(note.pk): "first"},
            {str(single.pk): "Yes", str(pick.pk): ["B"], str(note.pk): ""},
            {str(single.pk): "No", str(pick.pk): []},
            {},
        ):
            ResponseFactory(widget=widget, answers=answers)

        results = widget_results(widget=widget)

        one, many, text = results["questions"]
        assert [(c.label, c.count) for c in one.counts] == [("Yes", 2), ("No", 1)]
        assert one.answered == 3
        assert [(c.label, c.count) for c in many.counts] == [("A", 1), ("B", 2)]
        assert many.answered == 2
        assert (text.texts, text.answered) == (["first"], 1)
        assert results["total"] == 4

    def test_answers_stored_before_a_question_took_several_choices_still_count(self, site):
        widget = WidgetFactory(site=site, kind="poll")
        question = QuestionFactory(widget=widget, kind="single", choices=["A", "B"])
        for value in ("A", "B", 3):
            ResponseFactory(widget=widget, answers={str(question.pk): value})
        question.kind, question.choices = "multiple", ["A", "B"]
        question.save()
        for value in (["A", "B"], ["B"], []):
            ResponseFactory(widget=widget, answers={str(question.pk): value})

        [result] = widget_results(widget=widget)["questions"]

        assert [(c.label, c.count) for c in result.counts] == [("A", 2), ("B", 3)]
        assert result.answered == 4
        assert result.retired == [("3", 1)]

    def test_answers_stored_before_a_question_took_one_choice_are_listed_apart(self, site):
        widget = WidgetFactory(site=site, kind="poll")
        question = QuestionFactory(widget=widget, kind="multiple", choices=["A", "B"])
        for value in (["A", "B"], ["B"]):
            ResponseFactory(widget=widget, answers={str(question.pk): value})
        question.kind = "single"
        question.save()
        ResponseFactory(widget=widget, answers={str(question.pk): "A"})

        [result] = widget_results(widget=widget)["questions"]

        assert [(c.label, c.count) for c in result.counts] == [("A", 1), ("B", 1)]
        assert result.answered == 2
        assert result.retired == [("A, B", 1)]

    def test_only_answers_the_question_has_a_bar_for_count_as_answered(self, site):
        """Answers stored before a rating was a yes/no question, or for a choice since
        renamed: the shares still add up to 100 %."""
        widget = WidgetFactory(site=site, kind="poll")
        rating = QuestionFactory(widget=widget, kind="rating", choices=[])
        single = QuestionFactory(widget=widget, kind="single", choices=["Fast", "Cheap"])
        for answers in ({rating.pk: 4, single.pk: "Fast"}, {rating.pk: "Yes", single.pk: "Fats"}):
            ResponseFactory(widget=widget, answers={str(k): v for k, v in answers.items()})

        rated, chosen = widget_results(widget=widget)["questions"]

        assert (rated.answered, [c.share for c in rated.counts if c.count]) == (1, [1.0])
        assert (chosen.answered, [c.share for c in chosen.counts if c.count]) == (1, [1.0])
        # ... and the others are listed apart, on the page too
        assert (rated.retired, chosen.retired) == ([("Yes", 1)], [("Fats", 1)])

    def test_a_choice_that_reads_as_a_json_list_counts_as_itself(self, login, owner, site):
        """A single-choice answer is a string, whatever it looks like: only an answer
        stored as a list is several choices."""
        widget = WidgetFactory(site=site, kind="poll")
        pick = QuestionFactory(
            widget=widget,
            position=0,
            kind="single",
            text="Pick",
            choices=["[1]", "[2]", "[]", "Other"],
        )
        for answer in ("[1]", "[1]", "[2]", "[]", "Other", "Other"):
            ResponseFactory(widget=widget, answers={str(pick.pk): answer})

        page = html(login(owner).get(url(site, widget.pk, "results")))

        assert (
            '<figcaption class="sr-only" id="chart-1-title">Pick: 6 answered. [1]: 2 (33%); '
            "[2]: 1 (17%); []: 1 (17%); Other: 2 (33%)</figcaption>"
        ) in page
        assert "Left out of the bars" not in page

    def test_answers_to_a_renamed_choice_are_shown_apart(self, login, owner, site):
        widget = WidgetFactory(site=site, kind="poll")
        genres = QuestionFactory(
            widget=widget, kind="multiple", choices=["Fiction", "History", "Poetry"]
        )
        for answer in (["Fiction", "Histroy"], ["Histroy"], ["Poetry"], ["Fiction"]):
            ResponseFactory(widget=widget, answers={str(genres.pk): answer})
        genres.choices = ["Fiction", "History", "Poetry"]
        genres.save()

        page = html(login(owner).get(url(site, widget.pk, "results")))

        assert "Multiple choice · 3 answered" in page
        assert re.search(
            r'id="retired-q\d+">Left out of the bars, answers to choices this question no '
            r"longer has \(or given before it changed kind\): “Histroy” 2\.</p>",
            page,
        )

    def test_only_counts_and_the_shown_page_are_read(self, login, owner, busy_poll):
        client = login(owner)
        responses_table = Response._meta.db_table
        values_table = AttributeValue._meta.db_table

        with CaptureQueriesContext(connection) as queries:
            client.get(url(busy_poll.site, busy_poll.pk, "results"))

        reads = [q["sql"] for q in queries if f'FROM "{responses_table}"' in q["sql"]]
        # The database counts; rows come back only a page (or the latest texts) at a time.
        assert reads
        assert all("COUNT(" in sql or "LIMIT 100" in sql for sql in reads), reads
        totals = [sql for sql in reads if sql.startswith('SELECT COUNT(*) AS "__count"')]
        assert len(totals) == 2  # the text question's answers, and all responses once
        attribute_reads = [q["sql"] for q in queries if f'FROM "{values_table}"' in q["sql"]]
        assert len(attribute_reads) == 1
        assert f'"{values_table}"."site_id" = {busy_poll.site_id}' in attribute_reads[0]
        profiles = re.search(r"IN \(([^)]*)\)", attribute_reads[0]).group(1).split(",")
        assert len(profiles) == 100


class TestCsv:
    def rows(self, response) -> list[list[str]]:
        body = b"".join(response.streaming_content).decode("utf-8")
        assert body.startswith("\ufeff")
        return list(csv.reader(io.StringIO(body[1:])))

    def test_the_export_reads_pages_and_lists_each_response_once(self, site):
        widget = WidgetFactory(site=site, kind="feedback")
        at = timezone.now()
        made = [ResponseFactory(widget=widget, emotion=1 + n % 5) for n in range(7)]
        Response.objects.filter(pk__in=[r.pk for r in made[:5]]).update(created_at=at)
        responses = widget_responses_for_export(widget=widget)

        with CaptureQueriesContext(connection) as queries:
            listed = [r["pk"] for r in responses_in_pages(responses, size=2)]

        assert listed == [r["pk"] for r in responses]
        assert sorted(listed) == sorted(r.pk for r in made)
        assert len(queries) == 4  # pages of 2, 2, 2 and 1
        assert all("LIMIT 2" in q["sql"] for q in queries)
        # each page after the first starts at the last one's time, where the index is
        assert all(">=" in q["sql"] for q in queries[1:])

    def test_a_long_export_goes_out_in_pieces_and_tells_the_server_it_is_alive(
        self, login, member, site, monkeypatch
    ):
        """One write per piece rather than per row, and a report of progress after each:
        gunicorn kills a worker that has not reported for 30 s, which cut a large export
        off half-way (apps/common/liveness.py)."""
        widget = WidgetFactory(site=site, kind="feedback")
        feedback_with_comments(widget, 1500, comment_length=200)
        reports = []
        monkeypatch.setattr(liveness, "REPORT_EVERY_SECONDS", 0)
        liveness.progress_report_install(lambda: reports.append(1))
        try:
            response = login(member).get(url(site, widget.pk, "results.csv"))
            pieces = list(response.streaming_content)
        finally:
            liveness.progress_report_install(None)

        body = b"".join(pieces).decode("utf-8")
        rows = list(csv.reader(io.StringIO(body[1:])))
        assert [row[5].split()[:2] for row in rows[1:]] == [
            ["comment", str(n)] for n in range(1500)
        ]
        assert len(pieces) >= 5  # about 450 kB in pieces of 64 kB and a row at most
        assert all(
            CSV_CHUNK_CHARS <= len(piece.decode()) < CSV_CHUNK_CHARS + 400 for piece in pieces[:-1]
        )
        assert len(reports) == len(pieces) - 1

    def test_answers_to_a_removed_question_keep_a_column(self, login, member, answered_poll):
        which = answered_poll.questions.get(text="Which?")
        removed = which.pk
        which.delete()

        response = login(member).get(url(answered_poll.site, answered_poll.pk, "results.csv"))

        header, *rows = self.rows(response)
        assert header[4:8] == [
            "Q1: Happy?",
            "Q3: Anything else?",
            f"removed question (id {removed})",
            "email",
        ]
        assert [row[6] for row in rows] == ["Books; Maps", "Books", ""]

    def test_a_question_removed_in_the_builder_is_named_by_what_it_asked(
        self, login, member, answered_poll
    ):
        which = answered_poll.questions.get(text="Which?")
        questions_saved(answered_poll, specs_of(answered_poll.questions.exclude(pk=which.pk)))
        label = f"removed question (id {which.pk}): Which?"
        client = login(member)

        header = self.rows(client.get(url(answered_poll.site, answered_poll.pk, "results.csv")))[0]
        page = html(client.get(url(answered_poll.site, answered_poll.pk, "results")))

        assert header[6] == label
        assert f"<dt>{label}</dt><dd>Books, Maps</dd>" in page

    def test_one_row_per_response_oldest_first(self, login, member, answered_poll):
        response = login(member).get(url(answered_poll.site, answered_poll.pk, "results.csv"))

        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == (
            f'attachment; filename="widget-{answered_poll.pk}-responses.csv"'
        )
        rows = self.rows(response)
        responses = list(answered_poll.responses.order_by("created_at"))
        # a poll's rows carry its answers and no feedback columns; every row its page
        assert rows[0] == [
            "time (UTC)",
            "visitor id",
            "user id",
            "page",
            "Q1: Happy?",
            "Q2: Which?",
            "Q3: Anything else?",
            "email",
            "consent to connect",
        ]
        assert rows[1:] == [
            [
                responses[0].created_at.isoformat(),
                responses[0].visitor.visitor_id,
                "ABC",
                "https://shop.example.com/account?tab=orders",
                "5",
                "Books; Maps",
                "'=HYPERLINK(1)",
                "rachel@example.com",
                "yes",
            ],
            [
                responses[1].created_at.isoformat(),
                responses[1].visitor.visitor_id,
                "'-2+3",
                "",
                "5",
                "Books",
                "",
                "",
                "no",
            ],
            [
                responses[2].created_at.isoformat(),
                responses[2].visitor.visitor_id,
                "",
                "",
                "2",
                "",
                "",
                "",  # an email without the consent is never exported
                "no",
            ],
        ]

    def test_feedback_rows_carry_emotion_and_comment(self, login, owner, site):
        widget = WidgetFactory(site=site, kind="feedback", name="Tab")
        ResponseFactory(
            widget=widget, emotion=4, comment="@admin look here", page_url="https://a.example/"
        )

        rows = self.rows(login(owner).get(url(site, widget.pk, "results.csv")))

        assert rows[0][3:] == [
            "page",
            "emotion (1 hate - 5 love)",
            "comment",
            "email",
            "consent to connect",
        ]
        assert rows[1][3:] == ["https://a.example/", "4", "'@admin look here", "", "no"]

    def test_question_texts_in_the_header_are_guarded_too(self, login, owner, site):
        widget = WidgetFactory(site=site, kind="poll")
        QuestionFactory(
            widget=widget, position=0, kind="text", text="+cmd|' /C calc'!A0", choices=[]
        )

        rows = self.rows(login(owner).get(url(site, widget.pk, "results.csv")))

        assert rows[0][4] == "Q1: +cmd|' /C calc'!A0"  # starts with "Q1:", harmless

    @pytest.mark.parametrize(
        ("value", "safe"),
        [
            ("=1+1", "'=1+1"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("plain", "plain"),
            ("a=b", "a=b"),
            ("", ""),
        ],
    )
    def test_cells_that_start_like_a_formula_get_a_quote(self, value, safe):
        assert csv_cell(value) == safe
