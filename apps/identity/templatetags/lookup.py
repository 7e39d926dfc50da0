"""Formatting of a person's feedback responses on the Visitor Lookup page."""

from django import template

from apps.feedback_targeting.selectors import EMOTIONS

register = template.Library()


@register.filter
def emotion_label(value: int | None) -> str:
    return EMOTIONS.get(value, "—") if value else "—"
