from django.apps import AppConfig


class FeedbackTargetingConfig(AppConfig):
    """Polls and Incoming Feedback widgets, their targeting and their responses."""

    name = "apps.feedback_targeting"
    label = "feedback_targeting"
