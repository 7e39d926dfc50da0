"""API plumbing shared by every endpoint: one error shape, one way to find the tenant."""

import json
import logging
import math
import time

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, TooManyFieldsSent
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.utils.cache import patch_vary_headers
from django.views import defaults
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from apps.accounts.selectors import api_token_authenticate
from apps.accounts.services import api_token_touch
from apps.common.errors import ApplicationError, Forbidden, NotFound
from apps.common.http import client_key
from apps.common.negotiation import FormatRefusingNegotiation
from apps.common.tenancy import role_at_least
from apps.common.text import text_unstorable
from apps.common.throttling import Rate, throttle_hit, throttle_hits, throttle_refund
from apps.sites.models import Site
from apps.sites.origins import origin_allowed
from apps.sites.selectors import site_get_public_cached

logger = logging.getLogger(__name__)

_DRF_CODES = {
    exceptions.ParseError: "malformed_body",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.Throttled: "throttled",
    exceptions.ValidationError: "invalid_request",
}


def error_response(code: str, message: str, status_code: int, headers=None) -> Response:
    return Response({"code": code, "message": message}, status=status_code, headers=headers)


def _flatten(detail) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    if isinstance(detail, list):
        return " ".join(_flatten(item) for item in detail)
    return str(detail)


# SQLSTATEs of a transaction PostgreSQL rolled back for another's sake (a deadlock, a
# serialization failure): the same request can succeed when sent again.
RETRY_STATES = ("40P01", "40001")

UNREADABLE_REQUEST = "The request cannot be read: too many parameters, or too large."


def exception_handler(exc, context):
    """Every API error leaves as `{"code": ..., "message": ...}`."""
    if isinstance(exc, ApplicationError):
        return error_response(exc.code, exc.message, exc.status_code)
    if isinstance(exc, OperationalError) and getattr(exc.__cause__, "sqlstate", None) in (
        RETRY_STATES
    ):
        # Two transactions wanted each other's rows: PostgreSQL rolled this one back.
        logger.warning("transaction rolled back, to be retried: %s", exc)
        return error_response(
            "concurrent_change",
            "Another change to the same records was made at the same moment; nothing was "
            "applied. Retry.",
            503,
            headers={"Retry-After": "1"},
        )
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is down or restarting: say so, and let the client retry.
        logger.warning("database unavailable: %s", exc)
        return error_response(
            "service_unavailable",
            "Cohort cannot reach its database right now; retry in a few seconds.",
            503,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, TooManyFieldsSent):
        # Answered here, not by handler400: with DEBUG on, Django's debug page reads the
        # parameters again and fails with a plain-text 500.
        return error_response("bad_request", UNREADABLE_REQUEST, 400)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return error_response("body_too_large", f"The request body is over {limit} bytes.", 413)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    message = _flatten(exc.detail) if hasattr(exc, "detail") else str(exc)
    if isinstance(exc, exceptions.ParseError):
        message = "The request body is not valid JSON."
    response.data = {"code": code, "message": message}
    return response


class BaseAPIView(APIView):
    """Base for every API view. Subclasses declare how they find their tenant; they never
    override `get_queryset` with an unscoped query."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} overrides get_queryset: resolve objects through the "
                "tenant selectors instead."
            )


# An integer literal longer than Python converts (sys.get_int_max_str_digits(), 4,300
# digits) stands for a number far out of any range.
_LONG_INT_DIGITS = 4000
_FAR_OUT = 10**100


def _json_int(text: str) -> int:
    if len(text) <= _LONG_INT_DIGITS:
        return int(text)
    return -_FAR_OUT if text.startswith("-") else _FAR_OUT


def _json_float(text: str) -> float | int:
    """A JSON number with a fraction or exponent; one beyond a double (`1e400`) is a
    number far out of range too, not the Infinity that JSON cannot write."""
    value = float(text)
    if math.isfinite(value):
        return value
    return -_FAR_OUT if text.startswith("-") else _FAR_OUT


class LenientJSONParser(JSONParser):
    """JSON bodies where NaN and Infinity parse as floats, and an integer too long for
    Python as one far out of range, so that the attribute validator can reject just that
    attribute (`invalid_number`, `number_out_of_range`) instead of the whole call."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", "utf-8")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise ApplicationError(
                "body_too_large", f"The request body is larger than {limit} bytes.", status_code=413
            )
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as error:
            raise exceptions.ParseError("The request body is not valid JSON.") from error
        except (LookupError, UnicodeError) as error:
            # A codec that is no text encoding (charset=base64), or one that cannot decode
            # (charset=undefined, punycode).
            raise ApplicationError(
                "malformed_body",
                f"The body's charset ({encoding}) is not a text encoding: send JSON as UTF-8.",
            ) from error
        try:
            data = json.loads(text, parse_int=_json_int, parse_float=_json_float)
        except (ValueError, RecursionError) as error:
            raise exceptions.ParseError("The request body is not valid JSON.") from error
        view = parser_context.get("view")
        bad = first_unstorable_text(data, judged=getattr(view, "body_values_judged", None))
        if bad is not None:
            raise ApplicationError(
                "malformed_body",
                f"Text in the body cannot be stored: {bad}. Send UTF-8 text without NUL "
                "characters.",
            )
        return data


def first_unstorable_text(data, *, judged: str | None = None) -> str | None:
    """Why some string (key or value) in parsed JSON cannot be stored (`text_unstorable`),
    or None.

    `judged` names a field of the body, an object, whose values the view judges one by
    one (identify's attributes: each value that cannot be stored is rejected on its own,
    and the call goes on); its keys are still checked here. Walks iteratively, so deep
    nesting cannot exhaust the stack.
    """
    stack = [data]
    if judged is not None and isinstance(data, dict) and isinstance(data.get(judged), dict):
        stack = [{key: value for key, value in data.items() if key != judged}, [*data[judged]]]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            reason = text_unstorable(item)
            if reason is not None:
                return reason
    return None


_PLAIN_ACCEPTS = ("*/*", JSONRenderer.media_type)


def plain_json_answer(request, renderer_types, format_suffix) -> bool:
    """Whether DRF would answer this request with JSON and the media type
    `application/json` whatever it negotiated: JSON is the only renderer, the URL has no
    format suffix, and the request asks for plain JSON as the tracking script does (no
    Accept header, `*/*` or `application/json`, no `format` parameter). Takes Django's
    request or DRF's. Parameters past DATA_UPLOAD_MAX_NUMBER_FIELDS: not plain, so that
    DRF's path meets them again where its handler answers the refusal."""
    try:
        asks_format = api_settings.URL_FORMAT_OVERRIDE in request.GET
    except TooManyFieldsSent:
        return False
    return (
        list(renderer_types) == [JSONRenderer]
        and not format_suffix
        and request.META.get("HTTP_ACCEPT", "*/*") in _PLAIN_ACCEPTS
        and not asks_format
    )


class JSONFirstNegotiation(FormatRefusingNegotiation):
    """The negotiation above, answered without parsing when `plain_json_answer`."""

    def select_renderer(self, request, renderers, format_suffix=None):
        if plain_json_answer(request, map(type, renderers), format_suffix):
            return renderers[0], JSONRenderer.media_type
        return super().select_renderer(request, renderers, format_suffix)


class PlainTextJSONParser(LenientJSONParser):
    """A JSON body sent as `text/plain`, as the tracking script sends it: a browser sends
    such a call straight away, where `application/json` first asks the API whether the
    page's origin may call it (a CORS preflight, one more round trip, which a request sent
    as the page is left cannot wait for). The origin is checked on the call itself."""

    media_type = "text/plain"


class PublicSiteAPIView(BaseAPIView):
    """Base for the public endpoints the tracking script calls with a site key.

    Resolves the site (404 for an unknown key), answers CORS only for the site's allowed
    origins (calls without an Origin header, from a back end, are accepted), and applies
    the per-site and per-client rate limits.

    A view with `get_plain` answers a plain JSON GET (`plain_json_answer`: what the
    tracking script sends) there, without DRF's request wrapping and content negotiation:
    the widget decision is asked on every page view, and that handling was about a fifth
    of its Python time. The checks above are the same, and an error leaves through DRF's
    handler as from any other request.

    The site comes from this process's memory while it is unchanged
    (`site_get_public_cached`): these endpoints only read it, and every service that
    changes a site or its plan renews its stamp, so every process sees the change within
    a second (`STAMP_CHECK_SECONDS`).
    """

    parser_classes = [LenientJSONParser, PlainTextJSONParser]
    # A field of the body (an object) whose values the view judges one by one, text that
    # cannot be stored included (`first_unstorable_text`).
    body_values_judged: str | None = None
    authentication_classes: list = []
    permission_classes: list = []
    content_negotiation_class = JSONFirstNegotiation
    cors_methods = "POST, OPTIONS"

    # (query) -> HttpResponse: the answer to a plain JSON GET, with `self.site` checked.
    get_plain = None

    def dispatch(self, request, *args, **kwargs):
        if (
            self.get_plain is None
            or request.method != "GET"
            or not plain_json_answer(
                request, self.renderer_classes, kwargs.get(api_settings.FORMAT_SUFFIX_KWARG)
            )
        ):
            return super().dispatch(request, *args, **kwargs)
        # What DRF's dispatch and `initial` set before they call the handler.
        self.args, self.kwargs, self.request = args, kwargs, request
        self.headers = self.default_response_headers
        self.format_kwarg = None
        try:
            self._check_site(request, kwargs.get("site_key", ""))
            response = self.get_plain(request.GET)
        except Exception as exc:
            request = self.request = self.initialize_request(request, *args, **kwargs)
            request.accepted_renderer, request.accepted_media_type = (
                self.perform_content_negotiation(request)
            )
            response = self.handle_exception(exc)
        return self.finalize_response(request, response, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        # The site first: an answer refused before it is known (a 406) could not name
        # the page's origin as allowed, and its browser would hide it from the script.
        self._check_site(request, kwargs.get("site_key", ""))
        super().initial(request, *args, **kwargs)

    def _check_site(self, request, site_key: str) -> None:
        site = site_get_public_cached(key=site_key)
        if site is None:
            # Counted against the client too: unknown keys are read from the database
            # every time, and must not be a way around the limit.
            if request.method != "OPTIONS":
                self._throttle(request, None)
            raise NotFound("unknown_site", "No site has this site key.")
        self.site = site
        origin = request.headers.get("Origin")
        if origin is not None and not origin_allowed(origin, site.allowed_origins):
            raise Forbidden(
                "origin_not_allowed",
                f"Requests from {origin} are not allowed for this site. Add the origin to "
                "the site's allowed origins.",
            )
        if request.method != "OPTIONS":
            self._throttle(request, site)

    def _throttle(self, request, site: Site | None) -> None:
        """The client's own limit first: a call it refuses is not counted against the
        site's. A site past its own limit is busy: until its window ends, each client gets
        a small share of calls of its own (COHORT_THROTTLE_BUSY_SITE_CLIENT), so that the
        heavy senders are refused while visitors making a page's few calls go on. A hard
        cap shared by everyone would let a handful of addresses, each within its own
        limit, switch the site's public API off for every visitor: its key is public."""
        ident = client_key(request) or ""
        wait = throttle_hit(scope="client", ident=ident, rate=_per_client())
        if wait is None and site is not None:
            per_site = Rate.parse(settings.COHORT_THROTTLE_PER_SITE)
            if throttle_hit(scope="site", ident=str(site.pk), rate=per_site) is not None:
                share = Rate.parse(settings.COHORT_THROTTLE_BUSY_SITE_CLIENT)
                wait = throttle_hit(scope="busy", ident=f"{site.pk}:{ident}", rate=share)
        if wait is not None:
            raise exceptions.Throttled(wait=wait)

    def options(self, request, *args, **kwargs):
        return Response(status=204)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        origin = request.headers.get("Origin")
        site = getattr(self, "site", None)
        if origin and (
            (site is not None and origin_allowed(origin, site.allowed_origins))
            or (site is None and _error_code(response) in SITELESS_ERRORS)
        ):
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Allow-Methods"] = self.cors_methods
            response["Access-Control-Allow-Headers"] = "Content-Type"
            # The script waits as long as a 429 or 503 asks before it retries.
            response["Access-Control-Expose-Headers"] = "Retry-After"
            response["Access-Control-Max-Age"] = "600"
        patch_vary_headers(response, ["Origin"])
        return response


# Errors met before the site could be read (its database down, say): they carry nothing
# of any site, so any page may read them, and the script then sees a 503's Retry-After
# instead of a network error that sends its developer to check the allowed origins.
SITELESS_ERRORS = frozenset({"service_unavailable", "server_error", "bad_request"})


def _error_code(response) -> str | None:
    data = getattr(response, "data", None)
    return data.get("code") if isinstance(data, dict) else None


def _per_client() -> Rate:
    return Rate.parse(settings.COHORT_THROTTLE_PER_CLIENT)


class ApiTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>` with a member's personal API token.

    `request.auth` is the token's `TokenAccess`: the membership it acts with (its account
    and role) and, when the URL names a site, that site if the account has it, read
    together with the token."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        scheme, _, raw = header.partition(" ")
        # Schemes are case-insensitive (RFC 9110): "bearer" is Bearer.
        if scheme.lower() != self.keyword.lower() or not raw.strip():
            return None
        # Counted against the client before the token is read, and taken back once it
        # proves good: tokens that are not are read from the database every time.
        now = time.time()
        failures = [("token_failures", client_key(request) or "", _per_client())]
        wait = throttle_hits(failures, now=now)
        if wait is not None:
            raise exceptions.Throttled(wait=wait)
        url_kwargs = (request.parser_context or {}).get("kwargs") or {}
        access = api_token_authenticate(raw=raw.strip(), site_key=url_kwargs.get("site_key"))
        if access is None:
            raise exceptions.AuthenticationFailed("The API token is not valid or was revoked.")
        throttle_refund(failures, now=now)
        api_token_touch(token=access.token)
        return access.token.user, access

    def authenticate_header(self, request):
        return self.keyword


class AccountTokenAPIView(BaseAPIView):
    """Base for the private API: the account comes from the token, and a site named in the
    URL must belong to it (another account's site is "not found"). Each token's calls are
    rate-limited (COHORT_THROTTLE_PER_TOKEN)."""

    authentication_classes = [ApiTokenAuthentication]
    permission_classes = [IsAuthenticated]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        rate = Rate.parse(settings.COHORT_THROTTLE_PER_TOKEN)
        wait = throttle_hits([("token", str(request.auth.token.pk), rate)])
        if wait is not None:
            raise exceptions.Throttled(wait=wait)
        self.membership = request.auth.membership
        self.account = self.membership.account
        if "site_key" in kwargs:
            if request.auth.site is None:
                raise NotFound("unknown_site", "No site of this account has this site key.")
            self.site = request.auth.site

    def require_role(self, role: str) -> None:
        if not role_at_least(self.membership, role):
            raise Forbidden(
                "permission_denied", f"This needs the {role} role or higher in the account."
            )


def json_or_page_not_found(request, exception=None):
    """URLs under /api/ that match no route answer JSON, like every other API error."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"code": "not_found", "message": "No API endpoint at this address."}, status=404
        )
    return defaults.page_not_found(request, exception)


def json_or_bad_request(request, exception=None):
    """A request Django refuses before any view can answer it (more than
    DATA_UPLOAD_MAX_NUMBER_FIELDS parameters, say) answers JSON under /api/ too."""
    if request.path.startswith("/api/"):
        return _readable_by_the_caller(
            request,
            JsonResponse({"code": "bad_request", "message": UNREADABLE_REQUEST}, status=400),
        )
    return defaults.bad_request(request, exception)


def _readable_by_the_caller(request, response: JsonResponse) -> JsonResponse:
    """An error answered before any view (SITELESS_ERRORS), readable by the calling page:
    its browser would report it as a network error otherwise."""
    origin = request.headers.get("Origin")
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Expose-Headers"] = "Retry-After"
    patch_vary_headers(response, ["Origin"])
    return response


def json_or_server_error(request):
    if request.path.startswith("/api/"):
        return _readable_by_the_caller(
            request,
            JsonResponse(
                {"code": "server_error", "message": "Something went wrong; nothing was stored."},
                status=500,
            ),
        )
    return defaults.server_error(request)
