"""Formatting of a person's feedback responses on the Visitor Lookup page."""

from django import template

from apps.feedback_targeting.models import Question, Response
from apps.feedback_targeting.selectors import EMOTIONS

register = template.Library()


@register.filter
def answer_to(response: Response, question: Question) -> str:
    """The response's answer to one question, as text ("—" when it was skipped)."""
    value = response.answers.get(str(question.pk))
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


@register.filter
def emotion_label(value: int | None) -> str:
    return EMOTIONS.get(value, "—") if value else "—"
