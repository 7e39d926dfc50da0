from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from apps.accounts.models import Membership
from apps.billing.selectors import user_attributes_access
from apps.common.errors import ApplicationError
from apps.common.http import client_ip
from apps.common.tenancy import account_view
from apps.consent.selectors import (
    DPA_VERSION,
    consent_history,
    consent_statements,
    signed_dpa_latest,
)
from apps.consent.services import user_attributes_disable, user_attributes_enable
from apps.feedback_targeting.selectors import widgets_switched_off_count, widgets_targeting_key
from apps.sites.selectors import site_get_for_account, sites_of_account
from apps.sites.views import no_sites
from apps.user_attributes.forms import EnableForm
from apps.user_attributes.selectors import (
    attribute_catalogue,
    attribute_key_get,
    catalogue_room,
    rejection_summary,
)
from apps.user_attributes.services import attribute_key_delete
from apps.user_attributes.validation import MAX_KEYS_PER_SITE


@require_GET
@account_view()
def settings_index(request: HttpRequest) -> HttpResponse:
    """Settings > User Attributes: open the first site, or explain that there is none."""
    first = sites_of_account(account=request.account).first()
    if first is None:
        return no_sites(request, "User Attributes", "User Attributes are set per site")
    return redirect(
        "user_attributes:settings", account_slug=request.account.slug, site_key=first.key
    )


@require_GET
@account_view()
def settings_page(request: HttpRequest, site_key: str) -> HttpResponse:
    site = site_get_for_account(account=request.account, key=site_key)
    catalogue = attribute_catalogue(site=site)
    context = {
        "site": site,
        "sites": sites_of_account(account=request.account),
        "access": user_attributes_access(account=request.account),
        "can_change": request.membership.can_manage_sites,
        # Enabling confirms the Data Processing Agreement for the account: an owner's act.
        "can_enable": request.membership.can_change_plan,
        "catalogue": catalogue,
        "personal_on_anonymous": [e for e in catalogue if e.personal_on_anonymous],
        "room": catalogue_room(site=site),
        "max_keys": MAX_KEYS_PER_SITE,
        "rejections": rejection_summary(site=site),
        "history": consent_history(account=request.account, site=site)[:10],
        "signed_dpa": signed_dpa_latest(account=request.account),
        "dpa_version": DPA_VERSION,
    }
    return render(request, "user_attributes/settings.html", context)


def _dialog_or_page(request, template: str, context: dict, status: int = 200) -> HttpResponse:
    name = "partials/_" if request.htmx else ""
    return render(request, f"user_attributes/{name}{template}.html", context, status=status)


def _back(request, site) -> HttpResponse:
    url = reverse("user_attributes:settings", args=[request.account.slug, site.key])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _enabled_message(site) -> str:
    """Widgets switched off with User Attributes stay off (the customer decides when they
    show again): say so, or the site's polls would stay hidden without a word."""
    message = f"User Attributes are enabled for {site.name}."
    off = widgets_switched_off_count(site=site)
    if off == 1:
        return f"{message} The widget Cohort switched off stays off: switch it on in Widgets."
    if off:
        return (
            f"{message} The {off} widgets Cohort switched off stay off: switch them on in Widgets."
        )
    return message


@require_http_methods(["GET", "POST"])
@account_view(min_role=Membership.Role.OWNER)
def enable(request: HttpRequest, site_key: str) -> HttpResponse:
    site = site_get_for_account(account=request.account, key=site_key)
    statements = consent_statements(account=request.account)
    form = EnableForm(request.POST if request.method == "POST" else None, statements=statements)
    context = {"site": site, "form": form, "dpa_version": DPA_VERSION}
    if request.method == "POST" and form.is_valid():
        try:
            user_attributes_enable(
                site=site,
                user=request.user,
                confirmed=form.confirmed(),
                client_ip=client_ip(request),
                user_agent=request.headers.get("User-Agent", ""),
            )
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _enabled_message(site))
            return _back(request, site)
    status = 400 if form.errors else 200
    return _dialog_or_page(request, "enable_dialog", context, status)


@require_http_methods(["GET", "POST"])
@account_view(min_role=Membership.Role.ADMIN)
def disable(request: HttpRequest, site_key: str) -> HttpResponse:
    site = site_get_for_account(account=request.account, key=site_key)
    error = None
    if request.method == "POST":
        try:
            user_attributes_disable(
                site=site,
                user=request.user,
                client_ip=client_ip(request),
                user_agent=request.headers.get("User-Agent", ""),
            )
        except ApplicationError as exc:
            error = exc.message
        else:
            messages.success(
                request,
                f"User Attributes are disabled for {site.name}. Identify calls are refused; "
                "the attributes already stored stay in place.",
            )
            return _back(request, site)
    return _dialog_or_page(
        request, "disable_dialog", {"site": site, "error": error}, 400 if error else 200
    )


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@account_view(min_role=Membership.Role.ADMIN)
def key_delete(request: HttpRequest, site_key: str, key: str) -> HttpResponse:
    """Ask (naming the values and the widgets concerned), then remove a catalogue key with
    every value stored under it."""
    site = site_get_for_account(account=request.account, key=site_key)
    entry = attribute_key_get(site=site, key=key)
    if request.method == "POST":
        removed = attribute_key_delete(site=site, key=entry.key, by=request.user)
        messages.success(
            request,
            f"“{entry.key}” is removed from {site.name} with its {removed} stored "
            f"value{'' if removed == 1 else 's'}.",
        )
        return _back(request, site)
    context = {
        "site": site,
        "entry": entry,
        "widgets": widgets_targeting_key(site=site, key=entry.key),
    }
    return _dialog_or_page(request, "key_delete_dialog", context)
