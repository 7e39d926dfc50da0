"""Deployment checks of our own, run by `manage.py check --deploy`."""

from django.conf import settings
from django.core.checks import Tags, Warning, register

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
