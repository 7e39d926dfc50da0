"""Test suite: fast hashing, in-memory cache, generous throttles unless a test narrows them."""

from .base import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
COHORT_THROTTLE_PER_SITE = "100000/min"
COHORT_THROTTLE_PER_CLIENT = "100000/min"
# Serve static files from the source folders; tests never run collectstatic.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
# One line per request is noise in test output; failures still show warnings and errors.
LOGGING["loggers"]["cohort.request"]["level"] = "WARNING"  # noqa: F405
