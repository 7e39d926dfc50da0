"""Visitor Lookup pages: find a person by user id and / or email, and delete them."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import push_url

from apps.accounts.models import Membership
from apps.common.once import new_form_id
from apps.common.pages import page_came_from
from apps.common.tenancy import account_view
from apps.identity.forms import LookupForm, PersonDeleteForm
from apps.identity.models import PrivacyAudit
from apps.identity.services import (
    person_delete_once,
    person_deletion_preview,
    person_lookup_record,
)
from apps.sites.selectors import site_get_for_account, sites_of_account
from apps.sites.views import no_sites


@require_GET
@account_view()
def lookup_index(request: HttpRequest) -> HttpResponse:
    first = sites_of_account(account=request.account).first()
    if first is None:
        return no_sites(request, "Visitor Lookup", "People are looked up site by site")
    return redirect("lookup:site", account_slug=request.account.slug, site_key=first.key)


def _from_elsewhere(request: HttpRequest) -> bool:
    """Whether the request comes from a link on another site (a browser says so in
    Sec-Fetch-Site), or by way of the log-in page, which a link from elsewhere that met
    a logged-out member passes through: such a request must not look anyone up."""
    return request.headers.get("Sec-Fetch-Site") in ("cross-site", "same-site") or (
        page_came_from(request) or ""
    ).startswith(reverse("accounts:login"))


@require_GET
@account_view()
def lookup_site(request: HttpRequest, site_key: str) -> HttpResponse:
    site = site_get_for_account(account=request.account, key=site_key)
    searched = "user_id" in request.GET or "email" in request.GET
    form = LookupForm(request.GET if searched else None)
    found = None
    # A link from another site's page (a browser says so in Sec-Fetch-Site) fills in the
    # form but does not search: every search is a privacy lookup recorded in the member's
    # name, which a page elsewhere must not make for them.
    # The same goes for a search the log-in page sends on to: a link from elsewhere that
    # met a logged-out member arrives from there.
    from_elsewhere = _from_elsewhere(request)
    # Going back (or forward) to a search asks for the page again (htmx keeps no copy of
    # what a search found): it is not a new lookup either, until the member asks.
    went_back = bool(request.htmx and request.htmx.history_restore_request)
    held = searched and (from_elsewhere or went_back)
    if held:
        form = LookupForm(initial={k: request.GET.get(k, "") for k in ("user_id", "email")})
    elif searched and form.is_valid():
        found = person_lookup_record(
            site=site,
            user_id=form.cleaned_data["user_id"],
            email=form.cleaned_data["email"],
            requested_by=request.user,
            channel=PrivacyAudit.Channel.PAGE,
        )
    context = {
        "site": site,
        "sites": sites_of_account(account=request.account),
        "form": form,
        "people": found.people if found else None,
        "found": found,
        "query": urlencode({k: request.GET.get(k, "") for k in ("user_id", "email")}),
        "can_delete": request.membership.can_manage_sites,
        "search_held": "back" if went_back and held else "link" if held else "",
    }
    # An htmx search swaps the form with the results: a refused search shows its errors
    # beside their fields. Going back to a search htmx does not keep asks for the whole
    # page, which it puts in place of <body>.
    part = request.htmx and not request.htmx.history_restore_request
    template = "identity/partials/_search.html" if part else "identity/lookup.html"
    response = render(request, template, context, status=400 if form.errors else 200)
    response["Vary"] = "HX-Request, HX-History-Restore-Request"
    if part and form.errors:
        # The address keeps the last search that ran, not one that was refused.
        push_url(response, False)
    return response


@require_http_methods(["GET", "POST"])
@account_view(min_role=Membership.Role.ADMIN)
def lookup_delete(request: HttpRequest, site_key: str) -> HttpResponse:
    """Confirm, then delete everything about the person the terms find."""
    site = site_get_for_account(account=request.account, key=site_key)
    data = request.POST if request.method == "POST" else request.GET
    form = PersonDeleteForm(data)
    if not form.is_valid():
        return render(
            request,
            "identity/lookup.html",
            {"site": site, "form": form, "people": None},
            status=400,
        )
    terms = {"user_id": form.cleaned_data["user_id"], "email": form.cleaned_data["email"]}
    if request.method == "POST":
        once = person_delete_once(
            site=site,
            **terms,
            requested_by=request.user,
            channel=PrivacyAudit.Channel.PAGE,
            form_id=form.cleaned_data["form_id"],
        )
        # A copy of the form sent again is answered as the first sending was.
        summary = once.made.deleted_summary if once.made else once.earlier
        if once.pending:  # the first sending is still deleting: it may yet fail
            messages.info(
                request,
                "That form was sent already and the deletion is still under way: search "
                "again in a moment to see that nothing is left.",
            )
        elif summary:
            messages.success(
                request,
                f"Deleted everything stored about this person on {site.name}: {summary}. "
                "The request is recorded in the privacy audit trail without personal data.",
            )
        else:  # the first sending deleted them over a day ago
            messages.info(
                request,
                "That form was sent already: this person was deleted once, and the request "
                "recorded in the privacy audit trail.",
            )
        url = reverse("lookup:site", args=[request.account.slug, site.key])
        return redirect(f"{url}?{urlencode(terms)}")
    # Whom it would delete is a lookup, recorded in the member's name: not for a link
    # from elsewhere, which gets the confirmation without the names.
    preview = None
    if not _from_elsewhere(request):
        preview = person_deletion_preview(
            site=site, **terms, requested_by=request.user, channel=PrivacyAudit.Channel.PAGE
        )
    template = "identity/partials/_delete_dialog.html" if request.htmx else "identity/delete.html"
    context = {
        "site": site,
        "terms": terms,
        "form": form,
        "preview": preview,
        "form_id": new_form_id(),
    }
    return render(request, template, context)
