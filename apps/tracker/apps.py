from django.apps import AppConfig


class TrackerConfig(AppConfig):
    """The tracking script served to customers' pages, and the demo page that uses it."""

    name = "apps.tracker"
    label = "tracker"
