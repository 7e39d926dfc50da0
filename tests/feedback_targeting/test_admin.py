"""Staff inspect widgets, questions and responses in the admin and can pause a widget."""

import pytest
from django.urls import reverse

from apps.feedback_targeting.models import Widget
from tests.factories import AttributeValueFactory
from tests.feedback_targeting.factories import QuestionFactory, ResponseFactory, WidgetFactory

RULE = {"match": "all", "conditions": [{"type": "number", "key": "spend", "op": "gt", "value": 10}]}


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def test_widget_page_shows_targeting_as_json_and_its_questions_read_only(staff_client, site):
    widget = WidgetFactory(site=site, name="Spenders", targeting=RULE)
    QuestionFactory(widget=widget, position=0, text="How did you hear about us?")

    response = staff_client.get(reverse("admin:feedback_targeting_widget_change", args=[widget.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    assert "<pre>{\n  &quot;match&quot;: &quot;all&quot;," in page
    assert "&quot;key&quot;: &quot;spend&quot;" in page
    assert "How did you hear about us?" in page
    assert 'name="name"' not in page
    assert 'name="questions-0-text"' not in page


@pytest.mark.parametrize("model", ["widget", "question", "response"])
def test_nothing_can_be_added_changed_or_deleted(staff_client, site, model):
    response_row = ResponseFactory(widget=QuestionFactory(widget__site=site).widget)
    row = {
        "widget": response_row.widget,
        "question": response_row.widget.questions.get(),
        "response": response_row,
    }[model]
    name = f"admin:feedback_targeting_{model}"

    add = staff_client.get(reverse(f"{name}_add"))
    change = staff_client.post(reverse(f"{name}_change", args=[row.pk]), {})
    delete = staff_client.post(reverse(f"{name}_delete", args=[row.pk]), {"post": "yes"})

    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    assert type(row).objects.filter(pk=row.pk).exists()


def test_staff_pause_running_widgets_and_others_are_left_alone(staff_client, site, other_site):
    running = WidgetFactory(site=site, name="Running")
    draft = WidgetFactory(site=site, name="Draft", status=Widget.Status.DRAFT)
    elsewhere = WidgetFactory(site=other_site, name="Elsewhere")

    response = staff_client.post(
        reverse("admin:feedback_targeting_widget_changelist"),
        {"action": "pause", "_selected_action": [running.pk, draft.pk]},
        follow=True,
    )

    page = response.content.decode()
    assert "Paused 1 widget(s)." in page
    assert "Not running, left as they were: Draft." in page
    statuses = dict(Widget.objects.values_list("pk", "status"))
    assert statuses == {running.pk: "paused", draft.pk: "draft", elsewhere.pk: "active"}


def test_staff_see_when_answers_and_values_came_but_not_what_they_say(staff_client, site):
    """Visitors' answers and attribute values are the customer's personal data, read by
    its members (results, Visitor Lookup, where each reading is recorded): the admin shows
    staff their keys, kinds and times only."""
    answer = ResponseFactory(
        widget=QuestionFactory(widget__site=site).widget,
        answers={"1": "my order never came"},
        comment="call me on 0612345678",
        email="rachel@example.com",
        consent_to_connect=True,
        page_url="https://shop.example.com/orders/8841",
    )
    value = AttributeValueFactory(
        site=site,
        key="email",
        value_type="string",
        number_value=None,
        string_value="rachel@example.com",
    )
    pages = [
        reverse("admin:feedback_targeting_response_changelist"),
        reverse("admin:feedback_targeting_response_change", args=[answer.pk]),
        reverse("admin:user_attributes_attributevalue_changelist"),
        reverse("admin:user_attributes_attributevalue_change", args=[value.pk]),
    ]

    for page in pages:
        html = staff_client.get(page).content.decode()
        for personal in ("never came", "0612345678", "rachel@example.com", "orders/8841"):
            assert personal not in html, (page, personal)
    found = staff_client.get(pages[0], {"q": "rachel@example.com"})
    assert found.context["cl"].result_count == 0  # nor can staff search by an address
