"""Staff inspect widgets, questions and responses in the admin and can pause a widget."""

import pytest
from django.urls import reverse

from apps.feedback_targeting.models import Widget
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
