"""Polls and Incoming Feedback widgets, their questions, and visitors' responses."""

from django.conf import settings
from django.db import models

from apps.common.models import site_key
from apps.feedback_targeting.texts import DEFAULT_LANGUAGE, LANGUAGES
from apps.identity.models import Profile, Visitor


def empty_rule() -> dict:
    return {"match": "all", "conditions": []}


class Widget(models.Model):
    class Kind(models.TextChoices):
        POLL = "poll", "Poll"
        FEEDBACK = "feedback", "Incoming Feedback"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        DISABLED = "disabled", "Disabled by Cohort"

    site = site_key()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=120)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    # Why Cohort switched the widget off (empty unless status is "disabled").
    disabled_reason = models.CharField(max_length=300, blank=True)
    targeting = models.JSONField(default=empty_rule)
    # Show only on pages whose URL contains this text (empty: every page).
    url_contains = models.CharField(max_length=300, blank=True)
    thank_you_message = models.CharField(max_length=300, default="Thank you for your feedback!")
    # The language of the widget's own words (buttons, labels, messages: texts.py); the
    # customer writes the questions and the thank-you in the language they choose.
    language = models.CharField(max_length=8, choices=LANGUAGES, default=DEFAULT_LANGUAGE)
    # The text of each question removed from the poll, by its id: its answers stay with
    # the responses, and the results and the export still say what was asked.
    removed_questions = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["site", "status"], name="widget_site_status")]

    def __str__(self) -> str:
        return self.name


class Question(models.Model):
    class Kind(models.TextChoices):
        SINGLE = "single", "Single choice"
        MULTIPLE = "multiple", "Multiple choice"
        RATING = "rating", "Rating 1-5"
        TEXT = "text", "Free text"

    site = site_key()
    widget = models.ForeignKey(Widget, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    text = models.CharField(max_length=300)
    choices = models.JSONField(default=list, blank=True)
    required = models.BooleanField(default=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "widget", "position"], name="question_unique_position"
            ),
        ]

    def __str__(self) -> str:
        return self.text


class Response(models.Model):
    """One visitor's answer to a widget. It follows the visitor's profile through
    stitching and is deleted with the person."""

    site = site_key()
    widget = models.ForeignKey(Widget, on_delete=models.CASCADE, related_name="responses")
    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="responses")
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="responses")
    # Poll answers by question id: a choice, a list of choices, a rating or a text.
    answers = models.JSONField(default=dict, blank=True)
    # Incoming Feedback: 1 (hate) to 5 (love), and an optional comment.
    emotion = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True)
    # Given only with the visitor's explicit consent to connect their feedback.
    email = models.EmailField(blank=True)
    consent_to_connect = models.BooleanField(default=False)
    page_url = models.CharField(max_length=2000, blank=True)
    created_at = models.DateTimeField()
    # The sender's id for this answer ("" when none was sent): a retry with the same id
    # is not stored twice.
    answer_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "answer_id"],
                condition=~models.Q(answer_id=""),
                name="response_answer_id_unique_per_site",
            )
        ]
        indexes = [
            models.Index(fields=["site", "widget", "created_at"], name="response_site_widget"),
            models.Index(fields=["site", "email"], name="response_site_email"),
            models.Index(fields=["site", "visitor"], name="response_site_visitor"),
            models.Index(fields=["site", "profile"], name="response_site_profile"),
        ]

    def __str__(self) -> str:
        return f"Response to {self.widget_id} at {self.created_at:%Y-%m-%d %H:%M}"
