"""Checks of our own: deployment (`manage.py check --deploy`) and the database's (`migrate`,
`check --database default`)."""

from django.conf import settings
from django.core.checks import Tags, Warning, register
from django.db import connections

from apps.common.sql import simple_lower

PER_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@register(Tags.caches, deploy=True)
def shared_cache_check(app_configs, **kwargs):
    """Rate-limit counters and the widget decision cache must be shared by every worker."""
    backend = settings.CACHES["default"]["BACKEND"]
    if backend in PER_PROCESS_CACHES:
        return [
            Warning(
                "The default cache is local to each process.",
                hint="Set CACHE_URL (e.g. redis://127.0.0.1:6379/0): otherwise each worker "
                "counts rate limits on its own and widget changes reach other workers "
                "only when their cached copy expires.",
                id="cohort.W001",
            )
        ]
    return []


@register(deploy=True)
def mail_check(app_configs, **kwargs):
    """Password reset links go out by mail: mail written to the server's output reaches
    nobody."""
    if settings.EMAIL_BACKEND == "django.core.mail.backends.console.EmailBackend":
        return [
            Warning(
                "Mail is written to the server's output, not sent.",
                hint="Set EMAIL_URL (e.g. smtp+tls://user:password@smtp.example.com:587) "
                "and DEFAULT_FROM_EMAIL: password reset links are sent by mail.",
                id="cohort.W002",
            )
        ]
    return []


# Text the check folds both ways: a letter outside ASCII, and the one Python lowers to two.
CASE_SAMPLE = "ZÜRİCH"


def lower_differs(connection) -> bool:
    """Whether the database's lower() folds case otherwise than the rules do in Python
    (`simple_lower`), as it does in a database of the C locale (every letter outside
    ASCII kept as it is)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT lower(%s)", [CASE_SAMPLE])
        return cursor.fetchone()[0] != simple_lower(CASE_SAMPLE)


@register(Tags.database)
def case_folding_check(app_configs, databases=None, **kwargs):
    """The builder's counts fold case with PostgreSQL's lower(), which follows the
    database's character type; a visitor's own decision folds in Python. Run by `migrate`
    and `check --database default`."""
    warnings = []
    for alias in databases or []:
        connection = connections[alias]
        if connection.vendor == "postgresql" and lower_differs(connection):
            warnings.append(
                Warning(
                    f"The database {alias!r} lowers text otherwise than Cohort does (a "
                    "character type of C lowers ASCII letters only).",
                    hint="Create it with a UTF-8 character type (e.g. LC_CTYPE 'C.UTF-8' "
                    "or 'en_US.UTF-8'): otherwise the builder counts profiles holding "
                    "'ZÜRICH' for a rule that a visitor holding it does not match.",
                    id="cohort.W003",
                )
            )
    return warnings
