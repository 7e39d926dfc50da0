"""The Data Processing Agreement an owner accepts to enable User Attributes."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from apps.consent.selectors import DPA_VERSION


@require_safe
def dpa(request: HttpRequest) -> HttpResponse:
    """The agreement's current version, public: an owner reads it before accepting it,
    and their lawyers without an account."""
    context = {"dpa_version": DPA_VERSION, "support_email": settings.COHORT_SUPPORT_EMAIL}
    return render(request, "consent/dpa.html", context)
