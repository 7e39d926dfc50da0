from django.apps import AppConfig


class UserAttributesConfig(AppConfig):
    name = "apps.user_attributes"
    label = "user_attributes"
