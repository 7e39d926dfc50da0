"""Presentation of widgets in pages: targeting in words, answers, and bar charts."""

from datetime import datetime

from django import template

from apps.feedback_targeting.forms import number_text, operator_label
from apps.feedback_targeting.models import Response
from apps.feedback_targeting.rules import OPERATORS, Condition, RuleError, parse_rule
from apps.feedback_targeting.selectors import (
    EMOTIONS,
    AnswerCount,
    GivenAnswer,
    given_answers,
    widget_switched_off_reason,
)
from apps.user_attributes.models import AttributeValue, ValueType

register = template.Library()


@register.simple_tag
def own_words(texts: dict, key: str, **values) -> str:
    """One of a widget's own words (texts.py) with its `{name}` values filled in."""
    return texts[key].format(**values)


@register.filter
def switched_off_reason(widget, site) -> str:
    """Why a widget Cohort switched off is off today (`widget_switched_off_reason`)."""
    return widget_switched_off_reason(widget=widget, site=site)


def _condition_words(condition: Condition) -> str:
    if condition.type == "visitor":
        return OPERATORS["visitor"][condition.op]
    label = operator_label(condition.type, condition.op)
    value = condition.value
    if value is None:
        return f"{condition.key} {label}"
    if condition.op == "between":
        return f"{condition.key} between {number_text(value[0])} and {number_text(value[1])}"
    if condition.op in ("more_than_days_ago", "less_than_days_ago"):
        return f"{condition.key} {label.replace('N', str(value))}"
    if condition.op == "in":
        return f"{condition.key} {label} " + ", ".join(f"“{v}”" for v in value)
    if condition.type == ValueType.NUMBER:
        return f"{condition.key} {label} {number_text(value)}"
    if condition.type == ValueType.STRING:
        return f"{condition.key} {label} “{value}”"
    return f"{condition.key} {label} {value.isoformat()}"


@register.filter
def targeting_summary(targeting: dict) -> str:
    """The rule in words: "total_spend > 0 and first_purchase more than 10 days ago"."""
    try:
        rule = parse_rule(targeting)
    except RuleError:
        return "Targeting needs fixing"
    if not rule.conditions:
        return "Everyone"
    joiner = " and " if rule.match == "all" else " or "
    return joiner.join(_condition_words(c) for c in rule.conditions)


@register.filter
def attribute_text(value: AttributeValue) -> str:
    if value.value_type == ValueType.NUMBER:
        return number_text(value.number_value)
    if value.value_type == ValueType.BOOLEAN:
        return "true" if value.boolean_value else "false"
    if value.value_type == ValueType.DATE:
        moment: datetime = value.date_value
        if (moment.hour, moment.minute, moment.second, moment.microsecond) == (0, 0, 0, 0):
            return moment.date().isoformat()
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    return value.string_value or ""


@register.filter
def answers_given(response: Response, questions) -> list[GivenAnswer]:
    """`given_answers` for a template: `response|answers_given:widget.questions.all`."""
    return given_answers(response, list(questions))


@register.filter
def emotion_label(value: int | None) -> str:
    return EMOTIONS.get(value, "") if value else ""


@register.inclusion_tag("feedback_targeting/partials/_bar_chart.html")
def bar_chart(counts: list[AnswerCount], *, title: str, chart_id, answered: int) -> dict:
    """A horizontal bar chart of answer counts, in HTML that reflows on a small screen
    (`chart-<chart_id>`): each bar with its label, count and percentage beside it, and a
    caption with every count that screen readers read instead of the bars."""
    most = max((c.count for c in counts), default=0)
    bars = [
        {
            "label": item.label,
            "count": item.count,
            "percent": round(item.share * 100),
            # The longest bar fills its track, the others in proportion: a CSS length,
            # written here so that no locale puts a decimal comma into it.
            "width": f"{100 * item.count / most if most else 0:.1f}",
        }
        for item in counts
    ]
    description = (
        "; ".join(f"{b['label']}: {b['count']} ({b['percent']}%)" for b in bars)
        or "No answers yet."
    )
    return {
        "chart_id": f"chart-{chart_id}",
        "title": title,
        "description": f"{answered} answered. {description}",
        "bars": bars,
    }
