"""Request ids, structured JSON logs, security headers and the health endpoint."""

import contextvars
import json
import logging
import re
import time
import uuid

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._\-]{8,64}$")
logger = logging.getLogger("cohort.request")


class RequestContextMiddleware:
    """Give every request an id (kept from a well-formed `X-Request-ID`), log one
    structured line per request, and add the security headers Django does not."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        request.request_id = request_id
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = settings.COHORT_CSP
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        path = secret_free(request.path)
        logger.info(
            "%s %s %s %.1fms",
            request.method,
            path,
            response.status_code,
            duration_ms,
            extra={
                "request_id": request_id,
                "method": request.method,
                "path": path,
                "status": response.status_code,
                "duration_ms": duration_ms,
            },
        )
        return response


# URLs whose parts are secrets (an invitation link's, a password reset link's): a log line
# shows them without those parts, whether or not the URL resolved (a mail client may add
# characters), since whoever reads the logs must not be able to use the links.
_SECRET_PATHS = (
    re.compile(r"(/invite/)[^/?#\s]+"),
    re.compile(r"(/password/reset/[^/?#\s]+/)[^/?#\s]+"),
    # A sign-up's confirmation link: it works for a week, and names the address.
    re.compile(r"(/confirm/)(?!again/)[^/?#\s]+"),
)


def secret_free(text: str) -> str:
    for pattern in _SECRET_PATHS:
        text = pattern.sub(r"\1[secret]", text)
    return text


class SecretPathFilter(logging.Filter):
    """Takes link secrets out of every record a handler writes (Django's own error lines
    name the request's path too)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = secret_free(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(secret_free(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(getattr(record, "path", None), str):
            record.path = secret_free(record.path)
        return True


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(
            {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


JsonFormatter.converter = time.gmtime


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness and readiness: 200 when the database answers, 503 when it does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return JsonResponse(
            {"code": "database_unavailable", "message": "The database does not answer."},
            status=503,
        )
    return JsonResponse({"status": "ok", "database": "ok"})
