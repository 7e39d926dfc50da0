from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from apps.accounts.models import Membership
from apps.billing.selectors import user_attributes_access
from apps.common.once import Once
from apps.common.tenancy import account_view
from apps.sites.forms import SiteDeleteForm, SiteForm
from apps.sites.selectors import (
    site_being_erased,
    site_get_for_account,
    site_install_snippet,
    site_install_status,
    site_script_url,
    sites_of_account_with_activity,
)
from apps.sites.services import (
    site_create_once,
    site_delete_once,
    site_deletion_before,
    site_update,
)


@account_view()
@require_GET
def site_list(request: HttpRequest) -> HttpResponse:
    sites = sites_of_account_with_activity(account=request.account)
    context = {
        "sites": sites,
        "window_days": settings.COHORT_MESSAGE_RETENTION_DAYS,
        "access": user_attributes_access(account=request.account),
    }
    return render(request, "sites/list.html", context)


@account_view(min_role=Membership.Role.ADMIN)
@require_http_methods(["GET", "POST"])
def site_create_view(request: HttpRequest) -> HttpResponse:
    # Bound on every POST, even an empty one, so a blank submission reports its errors.
    form = SiteForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        once = site_create_once(
            account=request.account,
            name=form.cleaned_data["name"],
            allowed_origins=form.cleaned_data["allowed_origins"],
            created_by=request.user,
            form_id=form.cleaned_data["form_id"],
        )
        if once.made is None:
            return _site_made_before(request, key=once.earlier)
        site = once.made
        if site.allowed_origins:
            messages.success(request, f"{site.name} created. Paste the snippet into your pages.")
        else:
            messages.success(
                request,
                f"{site.name} created. Add the addresses your pages run on to its allowed "
                "origins (Settings, below) before pasting the snippet: calls from any other "
                "address are refused.",
            )
        return redirect("sites:detail", account_slug=request.account.slug, site_key=site.key)
    status = 400 if form.errors else 200
    return render(request, "sites/create.html", {"form": form}, status=status)


def _site_made_before(request: HttpRequest, *, key: str) -> HttpResponse:
    """The answer to an add-a-site form sent again: the site the first sending made."""
    try:
        site = site_get_for_account(account=request.account, key=key)
    except Http404:  # still being made, or deleted since
        messages.info(request, "That form was sent already: its site is listed here once made.")
        return redirect("sites:list", account_slug=request.account.slug)
    messages.info(request, f"That form was sent twice; {site.name} was created once.")
    return redirect("sites:detail", account_slug=request.account.slug, site_key=site.key)


@account_view()
@require_http_methods(["GET", "POST"])
def site_detail(request: HttpRequest, site_key: str) -> HttpResponse:
    """Install instructions and, for owners and admins, the site's settings."""
    site = site_get_for_account(account=request.account, key=site_key)
    can_manage = request.membership.can_manage_sites
    initial = {"name": site.name, "allowed_origins": "\n".join(site.allowed_origins)}
    data = request.POST if request.method == "POST" else None
    form = SiteForm(data, initial=initial) if can_manage else None
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied("Only owners and admins can change a site.")
        if form.is_valid():
            site_update(
                site=site,
                name=form.cleaned_data["name"],
                allowed_origins=form.cleaned_data["allowed_origins"],
                by=request.user,
            )
            messages.success(request, "Site settings saved.")
            return redirect("sites:detail", account_slug=request.account.slug, site_key=site.key)
    context = {
        "site": site,
        "snippet": site_install_snippet(site=site),
        "status": site_install_status(site=site, now=timezone.now()),
        "script_url": site_script_url(site=site),
        "form": form,
        "can_manage": can_manage,
        "access": user_attributes_access(account=request.account),
    }
    return render(
        request, "sites/detail.html", context, status=400 if form and form.errors else 200
    )


@account_view()
@require_GET
def site_install_status_view(request: HttpRequest, site_key: str) -> HttpResponse:
    """The install status alone: the site page asks for it again while nothing arrived."""
    site = site_get_for_account(account=request.account, key=site_key)
    context = {"site": site, "status": site_install_status(site=site, now=timezone.now())}
    return render(request, "sites/partials/_install_status.html", context)


@account_view(min_role=Membership.Role.ADMIN)
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def site_delete_view(request: HttpRequest, site_key: str) -> HttpResponse:
    form_id = request.POST.get("form_id", "")
    if request.method == "POST":
        # The same confirmation sent twice (a double click) finds the site gone or going:
        # it is answered as the first sending was.
        before = site_deletion_before(
            account=request.account, key=site_key, by=request.user, form_id=form_id
        )
        if before.earlier or before.pending:
            return _site_deleted(request, before, name=before.earlier, key=site_key)
    site = site_get_for_account(account=request.account, key=site_key)
    form = SiteDeleteForm(request.POST if request.method == "POST" else None, site=site)
    if request.method == "POST" and form.is_valid():
        deleted = site_delete_once(site=site, by=request.user, form_id=form_id)
        return _site_deleted(request, deleted, name=site.name, key=site_key)
    template = "sites/partials/_delete_dialog.html" if request.htmx else "sites/delete.html"
    return render(
        request, template, {"site": site, "form": form}, status=400 if form.errors else 200
    )


def _site_deleted(request: HttpRequest, deleted: Once, *, name: str, key: str) -> HttpResponse:
    if deleted.pending:  # another sending of the form is deleting it: it may yet fail
        messages.info(
            request,
            f"Deleting {name or 'the site'} is still under way: reload this page in a moment "
            "to see it gone.",
        )
    elif site_being_erased(account=request.account, key=key):
        # Gone for everyone; erasing its rows takes longer.
        messages.success(
            request,
            f"{name} was deleted: nothing of it can be seen or reached any more. Erasing "
            "its data takes a while longer and finishes within the hour.",
        )
    else:
        messages.success(request, f"{name} and all of its data were deleted.")
    return redirect("sites:list", account_slug=request.account.slug)


def no_sites(request: HttpRequest, section: str, per_site: str) -> HttpResponse:
    """A per-site section of an account that has no site yet: it says so, and owners and
    admins get the way to add one."""
    return render(request, "sites/no_sites.html", {"section": section, "per_site": per_site})
