"""API plumbing shared by every endpoint: one error shape, one way to find the tenant."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from apps.common.errors import ApplicationError

_DRF_CODES = {
    exceptions.ParseError: "malformed_body",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
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


def exception_handler(exc, context):
    """Every API error leaves as `{"code": ..., "message": ...}`."""
    if isinstance(exc, ApplicationError):
        return error_response(exc.code, exc.message, exc.status_code)
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
