"""Answers for the requests of a browser that no view of ours answers itself: a form sent
from a page opened before the last log-in (the CSRF check fails), and a form's address
opened as a page (405). Django's own answers are a bare line of text, with no way back."""

from collections.abc import Callable
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

STALE_FORM = (
    "This page was opened before you last logged in (in this tab or another one), so "
    "Cohort could not trust what it sent. Nothing was changed: reload the page, then try "
    "again."
)


def page_came_from(request: HttpRequest) -> str | None:
    """The path (with its query) of the page of ours that sent this request, from its
    Referer; None for another site's page or none."""
    referer = request.headers.get("Referer", "")
    if not referer or not url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return None
    parts = urlsplit(referer)
    path = parts.path or "/"
    if path.startswith(("//", "/\\")):  # a browser would read another host in it
        return None
    return path + (f"?{parts.query}" if parts.query else "")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW. Most often the token was rotated by a log-in since the page was
    opened; otherwise the browser refuses our cookies, which the page says too."""
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "csrf_failed", "message": STALE_FORM}, status=403)
    if getattr(request, "htmx", False):
        # app.js shows this text where the page shows failed requests.
        response = HttpResponse(STALE_FORM, status=403, content_type="text/plain")
        response["X-Request-Error"] = STALE_FORM
        return response
    context = {"message": STALE_FORM, "back": page_came_from(request)}
    return render(request, "403_csrf.html", context, status=403)


class MethodNotAllowedPageMiddleware:
    """A form's address opened as a page (a bookmark, or a log-in that came back to it)
    answers a page saying so, with a way back, instead of an empty 405. API answers and
    htmx requests keep theirs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code != 405
            or request.path.startswith("/api/")
            or getattr(request, "htmx", False)
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        page = render(request, "405.html", {"back": page_came_from(request)}, status=405)
        page["Allow"] = response.get("Allow", "")
        return page
