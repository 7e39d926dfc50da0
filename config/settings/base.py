"""Settings shared by every environment. Values that differ come from the environment."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
APPS_DIR = BASE_DIR / "apps"

env = environ.Env()
if (BASE_DIR / ".env").exists():
    env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("SECRET_KEY", default="insecure-local-only-key-change-me-0123456789abcdef")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Parameters travel apart from the statement text, and a statement run a few times on
    # a connection is prepared on the server (psycopg's prepare_threshold): PostgreSQL then
    # skips parsing and planning it again, about a quarter of an identify call's database
    # CPU (bench/README.md). Behind PgBouncer in transaction mode this needs PgBouncer 1.21
    # or later with max_prepared_statements set, or DATABASE_PREPARED_STATEMENTS=False.
    # Django's backend, with batches that fit server-side parameters and a health check
    # that reads the socket instead of sending `SELECT 1` (its module says why).
    DATABASES["default"]["ENGINE"] = "apps.common.postgresql"
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True,
        prepare_threshold=5 if env.bool("DATABASE_PREPARED_STATEMENTS", default=True) else None,
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite serialises writers; a busy timeout and IMMEDIATE transactions keep concurrent
    # identify calls from failing with "database is locked" on the embedded default.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # The attribute table's covering indexes (INCLUDE) are PostgreSQL's; SQLite keeps
    # their key columns, which is all it needs, and `make run` need not warn about it.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

DJANGO_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]
THIRD_PARTY_APPS = [
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
]
LOCAL_APPS = [
    "apps.common",
    "apps.accounts",
    "apps.billing",
    "apps.sites",
    "apps.identity",
    "apps.user_attributes",
    "apps.consent",
    "apps.feedback_targeting",
    "apps.tracker",
]
INSTALLED_APPS = DJANGO_APPS + THIRD_PARTY_APPS + LOCAL_APPS

MIDDLEWARE = [
    "apps.common.observability.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.common.tenancy.TenantMiddleware",
    "apps.common.pages.MethodNotAllowedPageMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.accounts.context_processors.current_account",
                "apps.accounts.context_processors.support",
            ],
        },
    },
]

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
# A form sent from a page opened before the last log-in: a page that says so.
CSRF_FAILURE_VIEW = "apps.common.pages.csrf_failure"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://cohort")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # Django's backend with reused clients and a one-round-trip incr (apps/common/cache.py).
    CACHES["default"]["BACKEND"] = "apps.common.cache.RedisCache"

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.common.api.exception_handler",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "apps.common.negotiation.FormatRefusingNegotiation",
    "UNAUTHENTICATED_USER": None,
    # How many proxies in front of us append to X-Forwarded-For. 0 (the default) trusts
    # only the socket address, so a client cannot choose its own rate-limit identity;
    # behind one load balancer set NUM_PROXIES=1.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Cohort API",
    "DESCRIPTION": (
        "Public API called by the tracking script (site key in the path) and private API "
        "for an account's back end (Bearer token). Every error is JSON "
        '`{"code": "...", "message": "..."}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.common.schema.tracking_script_documented",
    ],
}

# Public API limits (documented in docs/api.md and the OpenAPI schema).
# `manage.py seed_demo` makes an owner login whose password the README publishes: off in
# production unless asked for (config/settings/production.py).
COHORT_DEMO_DATA = env.bool("COHORT_DEMO_DATA", default=True)
# Log-in attempts per email address and per client address, and sign-ups per client
# address: password guessing and account farming meet a wall, a person mistyping does not.
COHORT_LOGIN_RATE_PER_EMAIL = env("COHORT_LOGIN_RATE_PER_EMAIL", default="10/h")
COHORT_LOGIN_RATE_PER_CLIENT = env("COHORT_LOGIN_RATE_PER_CLIENT", default="100/h")
COHORT_SIGNUP_RATE_PER_CLIENT = env("COHORT_SIGNUP_RATE_PER_CLIENT", default="20/h")
# Requests for a password reset link per email address (from anywhere) and per client
# address: nobody fills a person's inbox with links.
COHORT_PASSWORD_RESET_RATE_PER_EMAIL = env("COHORT_PASSWORD_RESET_RATE_PER_EMAIL", default="5/h")
COHORT_PASSWORD_RESET_RATE_PER_CLIENT = env("COHORT_PASSWORD_RESET_RATE_PER_CLIENT", default="20/h")
# Invitations an account's owners may send (each one is a mail to an address they choose).
COHORT_INVITATIONS_RATE = env("COHORT_INVITATIONS_RATE", default="50/day")
# Links to confirm a login's address sent again on request, per login.
COHORT_CONFIRM_MAIL_RATE = env("COHORT_CONFIRM_MAIL_RATE", default="5/h")
# A password reset link works for an hour, and once.
PASSWORD_RESET_TIMEOUT = 3600
# Mail (password reset links): EMAIL_URL as django-environ reads it, e.g.
# smtp+tls://user:password@smtp.example.com:587. Without one, mail is written to the
# server's output (the development server's console).
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
# A mail server that does not answer fails the send within this many seconds (an
# invitation then keeps nothing and says so) instead of holding the request.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Cohort <no-reply@cohort.example>")
# Where customers write for what only support does (billing versions, signed DPAs).
COHORT_SUPPORT_EMAIL = env("COHORT_SUPPORT_EMAIL", default="support@cohort.example")
# Private API calls per API token (Visitor Lookup and deletion).
COHORT_THROTTLE_PER_TOKEN = env("COHORT_THROTTLE_PER_TOKEN", default="600/min")
COHORT_THROTTLE_PER_SITE = env("COHORT_THROTTLE_PER_SITE", default="6000/min")
# What each client may still send to a site past COHORT_THROTTLE_PER_SITE, while it is.
COHORT_THROTTLE_BUSY_SITE_CLIENT = env("COHORT_THROTTLE_BUSY_SITE_CLIENT", default="60/min")
COHORT_THROTTLE_PER_CLIENT = env("COHORT_THROTTLE_PER_CLIENT", default="600/min")
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
# How long a message id is remembered, so that a retry is acknowledged and not applied
# again (`manage.py purge_expired` forgets older ones; docs/api.md).
COHORT_MESSAGE_RETENTION_DAYS = env.int("COHORT_MESSAGE_RETENTION_DAYS", default=7)
# How long deleting a site (or an account) erases its rows before the page answers; a
# large site's rest is erased by `manage.py purge_expired`, run every hour (README).
COHORT_SITE_ERASE_SECONDS = env.float("COHORT_SITE_ERASE_SECONDS", default=10.0)

# Where the tracking script is served from, as seen by customers' pages.
COHORT_PUBLIC_BASE_URL = env("COHORT_PUBLIC_BASE_URL", default="http://127.0.0.1:8000")

LOG_FORMAT = env("LOG_FORMAT", default="plain")  # "json" in production
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "apps.common.observability.RequestIdFilter"},
        "secret_paths": {"()": "apps.common.observability.SecretPathFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "apps.common.observability.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "secret_paths"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        # One line per request from our middleware replaces Django's own warnings.
        "django.request": {"level": "ERROR"},
        "cohort.request": {"level": env("REQUEST_LOG_LEVEL", default="INFO")},
    },
}

# Our pages load scripts, styles and images from this server only. Pages that stand in
# for a customer's site (the demo shop) set their own policy.
COHORT_CSP = env(
    "COHORT_CSP",
    default=(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
        "worker-src 'self' blob:; "
        "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    ),
)
