from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "apps.common"
    label = "common"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from apps.common import checks, schema  # noqa: F401 - register checks and schema
        from apps.common.sql import sqlite_functions_register

        connection_created.connect(sqlite_functions_register, dispatch_uid="cohort-sqlite-lower")
