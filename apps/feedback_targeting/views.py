"""Polls and Incoming Feedback pages: the list per site, the builder with its live
previews, switching widgets on and off, and the results with their CSV export.

Every page works as plain links and form posts; htmx swaps a partial where
`request.htmx` is set (a condition row, a question block, a list row, the previews)."""

import csv

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from apps.accounts.models import Membership
from apps.billing.selectors import user_attributes_access
from apps.common.errors import ApplicationError
from apps.common.liveness import progress
from apps.common.tenancy import account_view
from apps.feedback_targeting.forms import (
    PREFIX_RE,
    BuilderForm,
    ConditionRow,
    QuestionForm,
    condition_view,
    kind_of,
    next_prefix,
    prefixes,
    question_form_blank,
)
from apps.feedback_targeting.models import Widget
from apps.feedback_targeting.rules import RuleError, matches_visitors_without_profile
from apps.feedback_targeting.selectors import (
    attribute_choices,
    targeting_count,
    widget_get_for_site,
    widget_response_count,
    widget_responses_page,
    widget_results,
    widget_results_export,
    widgets_with_response_counts,
)
from apps.feedback_targeting.services import (
    widget_activate,
    widget_create_once,
    widget_delete,
    widget_pause,
    widget_save,
)
from apps.sites.models import Site
from apps.sites.selectors import site_get_for_account, sites_of_account
from apps.sites.views import no_sites

# Re-renders the previews once htmx has put a changed row in (or taken one out of) the form.
FORM_CHANGED_EVENT = "widget-form-changed"
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _site(request: HttpRequest, site_key: str) -> Site:
    return site_get_for_account(account=request.account, key=site_key)


def _widget(request: HttpRequest, site_key: str, widget_id: int) -> tuple[Site, Widget]:
    site = _site(request, site_key)
    return site, widget_get_for_site(site=site, pk=widget_id)


def _site_notice(site: Site) -> str:
    """Why widgets that target on attributes cannot run on this site now ("" if they can)."""
    access = user_attributes_access(account=site.account)
    if not access.allowed:
        return f"{access.message} Widgets that target on attributes stay switched off."
    if not site.user_attributes_enabled:
        return (
            "User Attributes are disabled for this site: widgets that target on attributes "
            "stay switched off until their attribute conditions are removed or User "
            "Attributes are enabled again."
        )
    return ""


# --- list ----------------------------------------------------------------------------


@account_view()
@require_GET
def widgets_index(request: HttpRequest) -> HttpResponse:
    """Polls & Feedback: open the first site, or explain that there is none."""
    first = sites_of_account(account=request.account).first()
    if first is None:
        return no_sites(request, "Polls and Incoming Feedback", "Widgets run on a site")
    return redirect("widgets:list", account_slug=request.account.slug, site_key=first.key)


@account_view()
@require_GET
def widget_list(request: HttpRequest, site_key: str) -> HttpResponse:
    site = _site(request, site_key)
    context = {
        "site": site,
        "sites": sites_of_account(account=request.account),
        "widgets": widgets_with_response_counts(site=site),
        "can_manage": request.membership.can_manage_sites,
        "site_notice": _site_notice(site),
    }
    return render(request, "feedback_targeting/list.html", context)


# --- builder -------------------------------------------------------------------------


def _preview_context(site: Site, form: BuilderForm) -> dict:
    """The live previews: how many profiles the rule matches now, and the widget."""
    context: dict = {"widget_preview": form.preview()}
    if any(row.missing_value or row.needs_operator for row in form.rows):
        # A condition still being filled in is not an error yet: wait for its value.
        context["preview_waiting"] = True
        return context
    try:
        rule = form.rule()
    except RuleError as error:
        context["preview_error"] = "; ".join(error.errors.values())
    else:
        now = timezone.now()
        context["preview_count"] = targeting_count(site=site, rule=rule, now=now)
        context["preview_newcomers"] = matches_visitors_without_profile(rule, now)
    return context


# The builder's buttons that save what the form shows; "activate" and "pause" then switch
# the widget, so that nothing typed is lost and a widget never goes live with targeting
# other than the one on the screen.
SAVING_ACTIONS = ("save", "activate", "pause")


# The builder's switches: the service, and the state it leaves the widget in.
_SWITCHES = {"activate": (widget_activate, "active"), "pause": (widget_pause, "paused")}


def _switched(request: HttpRequest, widget: Widget, action: str, *, saved: bool) -> None:
    """Switch the widget as the builder's button asks, and say so. `saved`: whether the
    edits on the screen were saved first; a pause does not wait for edits that cannot be
    saved yet (a widget may need to stop at once), and the page keeps them."""
    if action not in _SWITCHES:
        messages.success(request, f"“{widget.name}” is saved.")
        return
    change, state = _SWITCHES[action]
    try:
        change(widget=widget)
    except ApplicationError as refused:
        if saved:
            messages.error(request, f"“{widget.name}” is saved but not {state}: {refused.message}")
        else:
            messages.error(request, refused.message)
    else:
        if saved:
            messages.success(request, f"“{widget.name}” is saved and {state}.")
        else:
            messages.warning(
                request,
                f"“{widget.name}” is {state}. Your edits are not saved yet: fix the fields "
                "marked below, then save.",
            )


def _widget_made_before(request: HttpRequest, *, site: Site, widget_id: str) -> HttpResponse:
    """The answer to a new widget's builder sent again: the widget the first sending made."""
    try:
        widget = widget_get_for_site(site=site, pk=int(widget_id or 0))
    except Http404:  # still being made, or deleted since
        messages.info(request, "That form was sent already: its widget is listed here once saved.")
        return redirect("widgets:list", account_slug=request.account.slug, site_key=site.key)
    messages.info(request, f"That form was sent twice; “{widget.name}” was saved once.")
    return redirect(
        "widgets:edit", account_slug=request.account.slug, site_key=site.key, widget_id=widget.pk
    )


def _builder(request: HttpRequest, *, site: Site, widget: Widget | None, kind: str):
    catalogue = attribute_choices(site=site)
    can_manage = request.membership.can_manage_sites
    status = 200
    if request.method == "POST":
        form = BuilderForm(kind=kind, catalogue=catalogue, data=request.POST)
        action = request.POST.get("builder_action", "save")
        if action not in SAVING_ACTIONS:
            form.apply(action)
        elif form.is_valid():
            fields = {
                "site": site,
                "kind": kind,
                "name": form.cleaned["name"],
                "targeting": form.rule_json(),
                "questions": form.question_specs(),
                "url_contains": form.cleaned["url_contains"],
                "thank_you_message": form.cleaned["thank_you_message"],
                "language": form.cleaned["language"],
                "user": request.user,
            }
            try:
                if widget is None:
                    once = widget_create_once(form_id=form.cleaned["form_id"], **fields)
                    if once.made is None:
                        return _widget_made_before(request, site=site, widget_id=once.earlier)
                    saved = once.made
                else:
                    saved = widget_save(widget=widget, **fields)
            except RuleError as error:
                form.add_rule_errors(error)
            except ApplicationError as error:
                form.add_error(error.message)
            else:
                _switched(request, saved, action, saved=True)
                return redirect(
                    "widgets:edit",
                    account_slug=request.account.slug,
                    site_key=site.key,
                    widget_id=saved.pk,
                )
        if action == "pause" and widget is not None and form.has_errors:
            _switched(request, widget, action, saved=False)
        status = 400 if form.has_errors else 200
    else:
        form = BuilderForm(kind=kind, catalogue=catalogue, widget=widget)
    context = {
        "site": site,
        "widget": widget,
        "answered": widget_response_count(widget=widget) if widget else 0,
        "form": form,
        "can_manage": can_manage,
        "site_notice": _site_notice(site),
        **_preview_context(site, form),
    }
    return render(request, "feedback_targeting/builder.html", context, status=status)


@account_view(min_role=Membership.Role.ADMIN)
@require_http_methods(["GET", "POST"])
def widget_create(request: HttpRequest, site_key: str) -> HttpResponse:
    site = _site(request, site_key)
    kind = kind_of(request.POST.get("kind") or request.GET.get("kind"))
    return _builder(request, site=site, widget=None, kind=kind)


@account_view()
@require_http_methods(["GET", "POST"])
def widget_edit(request: HttpRequest, site_key: str, widget_id: int) -> HttpResponse:
    """The builder for a saved widget; members see it read-only."""
    site, widget = _widget(request, site_key, widget_id)
    if request.method == "POST" and not request.membership.can_manage_sites:
        raise PermissionDenied("Only owners and admins can change widgets.")
    return _builder(request, site=site, widget=widget, kind=widget.kind)


def _row_prefix(request: HttpRequest, name: str, letter: str) -> str | None:
    """The prefix of the block to re-render, or a new one after those the form has."""
    prefix = request.POST.get("prefix")
    if prefix is None:
        return next_prefix(prefixes(request.POST, name, letter), letter)
    return prefix if PREFIX_RE.match(prefix) and prefix[0] == letter else None


def _form_changed(response: HttpResponse) -> HttpResponse:
    response["HX-Trigger-After-Swap"] = FORM_CHANGED_EVENT
    return response


@account_view(min_role=Membership.Role.ADMIN)
@require_POST
def builder_condition(request: HttpRequest, site_key: str) -> HttpResponse:
    """One condition row, fitted to its key: a new row, or the row again after its key,
    type or operator changed (only the operators and value inputs of the type)."""
    site = _site(request, site_key)
    prefix = _row_prefix(request, "conditions", "c")
    if prefix is None:
        return HttpResponseBadRequest("Bad condition prefix.")
    catalogue = {c.key: c for c in attribute_choices(site=site)}
    row = ConditionRow.from_data(request.POST, prefix)
    view = condition_view(row, catalogue, autofocus="prefix" not in request.POST)
    response = render(
        request, "feedback_targeting/partials/_condition.html", {"condition": view, "site": site}
    )
    return _form_changed(response)


@account_view(min_role=Membership.Role.ADMIN)
@require_POST
def builder_question(request: HttpRequest, site_key: str) -> HttpResponse:
    """One question block: a new one, or the block again after its kind changed."""
    site = _site(request, site_key)
    prefix = _row_prefix(request, "questions", "q")
    if prefix is None:
        return HttpResponseBadRequest("Bad question prefix.")
    if "prefix" in request.POST:
        question = QuestionForm(prefix=prefix, initial=_question_initial(request, prefix))
    else:
        question = question_form_blank(prefix)
    response = render(
        request,
        "feedback_targeting/partials/_question.html",
        {"question": question, "site": site, "autofocus": "prefix" not in request.POST},
    )
    return _form_changed(response)


def _question_initial(request: HttpRequest, prefix: str) -> dict:
    data = request.POST
    return {
        "id": data.get(f"{prefix}-id", ""),
        "kind": data.get(f"{prefix}-kind", ""),
        "text": data.get(f"{prefix}-text", ""),
        "choices": data.get(f"{prefix}-choices", ""),
        "required": bool(data.get(f"{prefix}-required")),
    }


@account_view(min_role=Membership.Role.ADMIN)
@require_GET
def builder_removed(request: HttpRequest, site_key: str) -> HttpResponse:
    """Nothing, for htmx to put where a removed row was; then the previews refresh."""
    _site(request, site_key)
    return _form_changed(HttpResponse(""))


@account_view(min_role=Membership.Role.ADMIN)
@require_POST
def builder_preview(request: HttpRequest, site_key: str) -> HttpResponse:
    """The builder's live previews for the form as it stands (nothing is saved)."""
    site = _site(request, site_key)
    form = BuilderForm(
        kind=kind_of(request.POST.get("kind")),
        catalogue=attribute_choices(site=site),
        data=request.POST,
    )
    return render(
        request, "feedback_targeting/partials/_previews.html", _preview_context(site, form)
    )


# --- on, off, delete -----------------------------------------------------------------


def _after_switch(
    request: HttpRequest, site: Site, widget: Widget, error: str | None, done: str
) -> HttpResponse:
    """The list's switches: the row again with htmx, else the list with a message (the
    edit page switches through the builder's form, `_switched`)."""
    if request.htmx:
        row = widgets_with_response_counts(site=site).get(pk=widget.pk)
        context = {"w": row, "site": site, "can_manage": True, "error": error}
        return render(
            request,
            "feedback_targeting/partials/_widget_row.html",
            context,
            status=400 if error else 200,
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, done)
    return redirect("widgets:list", account_slug=request.account.slug, site_key=site.key)


@account_view(min_role=Membership.Role.ADMIN)
@require_POST
@vary_on_headers("HX-Request")
def widget_activate_view(request: HttpRequest, site_key: str, widget_id: int) -> HttpResponse:
    site, widget = _widget(request, site_key, widget_id)
    error = None
    try:
        widget_activate(widget=widget)
    except ApplicationError as refused:
        error = f"“{widget.name}” was not activated: {refused.message}"
    return _after_switch(request, site, widget, error, f"“{widget.name}” is active.")


@account_view(min_role=Membership.Role.ADMIN)
@require_POST
@vary_on_headers("HX-Request")
def widget_pause_view(request: HttpRequest, site_key: str, widget_id: int) -> HttpResponse:
    site, widget = _widget(request, site_key, widget_id)
    error = None
    try:
        widget_pause(widget=widget)
    except ApplicationError as refused:
        error = refused.message
    return _after_switch(request, site, widget, error, f"“{widget.name}” is paused.")


@account_view(min_role=Membership.Role.ADMIN)
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def widget_delete_view(request: HttpRequest, site_key: str, widget_id: int) -> HttpResponse:
    """Confirm (a dialog with htmx, a page without), then delete with every response."""
    site, widget = _widget(request, site_key, widget_id)
    if request.method == "POST":
        name = widget.name
        widget_delete(widget=widget, by=request.user)
        messages.success(request, f"“{name}” and its responses were deleted.")
        return redirect("widgets:list", account_slug=request.account.slug, site_key=site.key)
    template = "partials/_delete_dialog" if request.htmx else "delete"
    return render(request, f"feedback_targeting/{template}.html", {"site": site, "widget": widget})


# --- results -------------------------------------------------------------------------


@account_view()
@require_GET
def widget_results_view(request: HttpRequest, site_key: str, widget_id: int) -> HttpResponse:
    site, widget = _widget(request, site_key, widget_id)
    results = widget_results(widget=widget)
    context = {
        "site": site,
        "widget": widget,
        "results": results,
        "questions": [item.question for item in results["questions"]],
        "page": widget_responses_page(
            widget=widget, page=request.GET.get("page"), total=results["total"]
        ),
    }
    return render(request, "feedback_targeting/results.html", context)


def csv_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one that starts like a formula gets a quote."""
    return f"'{value}" if value.startswith(CSV_FORMULA_START) else value


# Rows go out in pieces of about this many characters: one write to the client each,
# instead of one per row.
CSV_CHUNK_CHARS = 64 * 1024


class _Echo:
    def write(self, value: str) -> str:
        return value


@account_view()
@require_GET
def widget_results_csv(request: HttpRequest, site_key: str, widget_id: int) -> HttpResponse:
    _site_of_widget, widget = _widget(request, site_key, widget_id)
    header, rows = widget_results_export(widget=widget)
    writer = csv.writer(_Echo())

    def lines():
        # "\ufeff": spreadsheets read the file as UTF-8.
        chunk = ["\ufeff", writer.writerow([csv_cell(c) for c in header])]
        size = 0
        for row in rows:
            line = writer.writerow([csv_cell(c) for c in row])
            chunk.append(line)
            size += len(line)
            if size >= CSV_CHUNK_CHARS:
                yield "".join(chunk)
                chunk, size = [], 0
                progress()
        yield "".join(chunk)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    filename = f"widget-{widget.pk}-responses.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
