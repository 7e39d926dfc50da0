from django.apps import AppConfig


class ConsentConfig(AppConfig):
    """The Data Processing Agreement and the confirmations given to enable User Attributes."""

    name = "apps.consent"
    label = "consent"
