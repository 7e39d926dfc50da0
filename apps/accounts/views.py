import time
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from apps.accounts.forms import (
    AccountNameForm,
    ApiTokenForm,
    CountedPasswordChangeForm,
    InvitationSignupForm,
    InviteForm,
    LoginForm,
    NewAccountForm,
    NewPasswordForm,
    RoleForm,
    SignupForm,
)
from apps.accounts.models import Membership
from apps.accounts.selectors import (
    AUDIT_SOURCES,
    AuditCursor,
    account_audit_trail,
    account_members,
    api_token_get_for_user,
    api_tokens_of,
    invitation_for_link,
    invitation_get_in_account,
    invitation_usable,
    invitations_open,
    is_sole_owner,
    login_exists,
    membership_get_in_account,
    memberships_of_user,
)
from apps.accounts.services import (
    EMAIL_CONFIRM_DAYS,
    INVITATION_DAYS,
    account_create_once,
    account_rename,
    api_token_create_once,
    api_token_revoke,
    email_confirm,
    email_confirmation_resend,
    email_confirmation_send,
    email_confirmed,
    invitation_accept,
    invitation_create_once,
    invitation_revoke,
    invitation_signup,
    login_attempts_forgiven,
    membership_remove,
    membership_role_change,
    password_reset_request_count,
    signup_attempt_count,
    user_signup,
)
from apps.common.errors import ApplicationError
from apps.common.http import client_key
from apps.common.tenancy import SESSION_ACCOUNT_KEY, account_view
from apps.common.throttling import wait_text
from apps.identity.selectors import privacy_audit_trail


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Send a logged-in user to the account they used last (or their first one)."""
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    memberships = list(memberships_of_user(user=request.user))
    if not memberships:
        return render(request, "accounts/no_account.html")
    last = request.session.get(SESSION_ACCOUNT_KEY)
    chosen = next((m for m in memberships if m.account.slug == last), memberships[0])
    return redirect("sites:list", account_slug=chosen.account.slug)


def _past_the_signup_rate(request, form, template: str, what: str) -> HttpResponse | None:
    """Sign-ups and new accounts count against the client (`signup_attempt_count`): past
    the rate, the form again, saying when to try."""
    wait = signup_attempt_count(client=client_key(request))
    if wait is None:
        return None
    form.add_error(None, f"Too many {what} from your network. Try again {wait_text(wait)}.")
    return render(request, template, {"form": form}, status=429)


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    # Bound on every POST, even an empty one, so a blank submission reports its errors.
    form = SignupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        refused = _past_the_signup_rate(request, form, "accounts/signup.html", "sign-ups")
        if refused is not None:
            return refused
    if request.method == "POST" and form.is_valid():
        try:
            user, account = user_signup(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                account_name=form.cleaned_data["account_name"],
            )
        except ApplicationError as error:  # the same address signed up a moment before
            form.add_error("email", error.message)
            return render(request, "accounts/signup.html", {"form": form}, status=400)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome to Cohort. {account.name} is ready: add your site.")
        try:
            email_confirmation_send(user=user, confirm_url=_confirm_url(request))
        except ApplicationError as failed:
            messages.warning(request, failed.message)
        return redirect("sites:create", account_slug=account.slug)
    status = 400 if form.errors else 200
    return render(request, "accounts/signup.html", {"form": form}, status=status)


def _confirm_url(request: HttpRequest):
    return lambda token: request.build_absolute_uri(reverse("accounts:confirm", args=[token]))


@require_GET
def email_confirm_view(request: HttpRequest, token: str) -> HttpResponse:
    """The link mailed to confirm a login's address."""
    try:
        user = email_confirm(token=token)
    except ApplicationError as refused:
        context = {"problem": refused.message}
        return render(request, "accounts/confirm_failed.html", context, status=400)
    messages.success(request, f"Thank you: {user.email} is confirmed.")
    return redirect("home")


@login_required
@require_POST
def email_confirm_again(request: HttpRequest) -> HttpResponse:
    """Mail the link that confirms the logged-in user's address again, then go back to
    `next` (the page the note was on, when it is a page one can open) or home."""
    if request.user.email_confirmed_at is not None:
        messages.info(request, f"{request.user.email} is confirmed already.")
    else:
        try:
            email_confirmation_resend(user=request.user, confirm_url=_confirm_url(request))
        except ApplicationError as refused:
            messages.error(request, refused.message)
        else:
            messages.success(
                request,
                f"A new link is on its way to {request.user.email}; it works for "
                f"{EMAIL_CONFIRM_DAYS} days.",
            )
    back = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()})
    return redirect(back if back and safe else "home")


class PasswordResetView(auth_views.PasswordResetView):
    """Asks for the email address and sends a link to set a new password. The answer is
    the same whether or not a user has that address; requests are counted per address
    and client, and past the rate the page says when to try again."""

    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_sent")

    def form_valid(self, form):
        email = form.cleaned_data["email"].strip().lower()
        form.cleaned_data["email"] = email
        wait = password_reset_request_count(email=email, client=client_key(self.request))
        if wait is not None:
            form.add_error(None, f"Too many requests for a link. Try again {wait_text(wait)}.")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().form_valid(form)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    form_class = NewPasswordForm
    success_url = reverse_lazy("accounts:login")

    def form_valid(self, form):
        response = super().form_valid(form)
        email_confirmed(user=form.user)  # the reset link was mailed to the address
        login_attempts_forgiven(
            email=form.user.email, client=client_key(self.request), now=time.time()
        )
        messages.success(
            self.request,
            "Your new password is set, and every browser logged in before is logged out. "
            "Log in with it.",
        )
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    form_class = CountedPasswordChangeForm
    success_url = reverse_lazy("home")

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "client": client_key(self.request)}

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.throttled:
            response.status_code = 429
        return response

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(
            self.request,
            "Your password is changed. Other browsers logged in as you are logged out.",
        )
        return response


class LogoutView(auth_views.LogoutView):
    """Logging out is a form (a link could log anyone out from another site); the address
    opened as a page asks, with the form, instead of answering an empty 405."""

    http_method_names = ["get", "post", "options"]

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect("accounts:login")
        return render(request, "accounts/logout.html")


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def get_redirect_url(self) -> str:
        # A `next` that leads back here (a logged-in person following such a link) would
        # send them round in a loop: they go where a log-in leads by default instead.
        url = super().get_redirect_url()
        return "" if url and urlsplit(url).path == self.request.path else url

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.throttled:
            response.status_code = 429
        return response


@login_required
@require_http_methods(["GET", "POST"])
def account_new(request: HttpRequest) -> HttpResponse:
    """Start another account, owned by the user: counted with sign-ups per client."""
    form = NewAccountForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        refused = _past_the_signup_rate(request, form, "accounts/account_new.html", "new accounts")
        if refused is not None:
            return refused
        if form.is_valid():
            once = account_create_once(
                name=form.cleaned_data["account_name"],
                owner=request.user,
                form_id=form.cleaned_data["form_id"],
            )
            if once.made is None:
                return _account_made_before(request, slug=once.earlier)
            account = once.made
            request.session[SESSION_ACCOUNT_KEY] = account.slug
            messages.success(request, f"{account.name} is ready: add your site.")
            return redirect("sites:create", account_slug=account.slug)
    status = 400 if form.errors else 200
    return render(request, "accounts/account_new.html", {"form": form}, status=status)


def _account_made_before(request: HttpRequest, *, slug: str) -> HttpResponse:
    """The answer to a new-account form sent again: where the first sending led."""
    membership = memberships_of_user(user=request.user).filter(account__slug=slug).first()
    if membership is None:  # still being made, or left since
        messages.info(request, "That form was sent already: its account is listed here once made.")
        return redirect("accounts:switch")
    request.session[SESSION_ACCOUNT_KEY] = slug
    messages.info(request, f"That form was sent twice; {membership.account.name} was started once.")
    return redirect("sites:create", account_slug=slug)


@login_required
@require_GET
def switch_account(request: HttpRequest) -> HttpResponse:
    """The account switcher: every account the user belongs to."""
    memberships = memberships_of_user(user=request.user)
    return render(request, "accounts/switch.html", {"memberships": memberships})


@require_GET
@account_view()
def account_page(request: HttpRequest) -> HttpResponse:
    """Members, and the user's personal API tokens for this account."""
    return render(request, "accounts/account.html", _account_context(request, ApiTokenForm()))


def _account_context(
    request: HttpRequest,
    form: ApiTokenForm,
    new_token: str = "",
    name_form: AccountNameForm | None = None,
    invite_form: InviteForm | None = None,
) -> dict:
    owner = request.membership.can_change_plan
    members = list(account_members(account=request.account))
    if name_form is None and owner:
        name_form = AccountNameForm(initial={"name": request.account.name})
    if invite_form is None and owner:
        invite_form = InviteForm()
    return {
        "name_form": name_form,
        "invite_form": invite_form,
        "invitations": invitations_open(account=request.account) if owner else None,
        "sole_owner": owner and [m.role for m in members].count(Membership.Role.OWNER) == 1,
        "roles": Membership.Role.choices,
        "members": members,
        "tokens": api_tokens_of(account=request.account, user=request.user),
        "token_form": form,
        "new_token": new_token,
        "audit": privacy_audit_trail(account=request.account, limit=20)
        if request.membership.can_manage_sites
        else None,
    }


@require_POST
@account_view(min_role=Membership.Role.OWNER)
def account_rename_view(request: HttpRequest) -> HttpResponse:
    form = AccountNameForm(request.POST)
    if not form.is_valid():
        context = _account_context(request, ApiTokenForm(), name_form=form)
        return render(request, "accounts/account.html", context, status=400)
    name = form.cleaned_data["name"]
    if account_rename(account=request.account, actor=request.user, name=name):
        messages.success(request, f"The account is now called {name}.")
    else:
        messages.info(request, f"The account is already called {name}; nothing changed.")
    return redirect("account:detail", account_slug=request.account.slug)


@require_POST
@account_view()
def token_create(request: HttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        return render(request, "accounts/account.html", _account_context(request, form), status=400)
    made = api_token_create_once(
        account=request.account,
        user=request.user,
        name=form.cleaned_data["name"],
        form_id=form.cleaned_data["form_id"],
    )
    if made is None:
        messages.info(
            request,
            "That form made its token already; a token is shown only once. If you did not "
            "copy it, revoke it and create another.",
        )
        return redirect("account:detail", account_slug=request.account.slug)
    _, raw = made
    # Shown once, on this answer only; it is stored hashed.
    context = _account_context(request, ApiTokenForm(), new_token=raw)
    response = render(request, "accounts/account.html", context)
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@account_view()
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    """Ask first (a back end using the token stops working), then revoke. A token is its
    holder's own: anyone else is told it does not exist."""
    token = api_token_get_for_user(account=request.account, user=request.user, pk=token_id)
    if request.method == "POST":
        api_token_revoke(token=token, by=request.user)
        messages.success(request, f"Token “{token.name}” revoked. Calls with it now get 401.")
        return redirect("account:detail", account_slug=request.account.slug)
    template = "accounts/partials/_revoke_dialog.html" if request.htmx else "accounts/revoke.html"
    return render(request, template, {"token": token})


@require_GET
@account_view(min_role=Membership.Role.ADMIN)
def audit_trail(request: HttpRequest) -> HttpResponse:
    """Everything recorded about the account's plan, consent, tokens and privacy requests,
    a page at a time. Admins, who answer privacy requests, see those only."""
    privacy_only = request.GET.get("area") == "privacy" or not request.membership.can_change_plan
    sources = ("privacy",) if privacy_only else AUDIT_SOURCES
    after, error = request.GET.get("after"), ""
    try:
        cursor = AuditCursor.parse(after) if after else None
    except ValueError:
        cursor, error = None, "This link to older entries is not valid. The newest are below."
    context = {
        "page": account_audit_trail(account=request.account, sources=sources, after=cursor),
        "privacy_only": privacy_only,
        "first_page": cursor is None,
        "error": error,
    }
    return render(request, "accounts/audit.html", context, status=400 if error else 200)


# --- members and invitations ---------------------------------------------------------------


@require_POST
@account_view(min_role=Membership.Role.OWNER)
def member_invite(request: HttpRequest) -> HttpResponse:
    """Invite an address to the account; the link goes to it by mail."""
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            once = invitation_create_once(
                account=request.account,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                by=request.user,
                accept_url=lambda raw: request.build_absolute_uri(
                    reverse("accounts:invitation", args=[raw])
                ),
                form_id=form.cleaned_data["form_id"],
            )
        except ApplicationError as refused:
            form.add_error("email", refused.message)
        else:
            if once.pending:  # the first sending is still mailing: it may yet fail
                messages.info(
                    request,
                    "That form is still being sent: reload this page in a moment to see "
                    "whether the invitation went.",
                )
                return redirect("account:detail", account_slug=request.account.slug)
            if once.made is None:
                messages.info(
                    request,
                    f"That form was sent twice; one invitation went to "
                    f"{once.earlier or form.cleaned_data['email']}.",
                )
                return redirect("account:detail", account_slug=request.account.slug)
            invitation = once.made
            messages.success(
                request,
                f"Invitation sent to {invitation.email}: they join as "
                f"{invitation.get_role_display().lower()} with the link, which works for "
                f"{INVITATION_DAYS} days.",
            )
            return redirect("account:detail", account_slug=request.account.slug)
    context = _account_context(request, ApiTokenForm(), invite_form=form)
    return render(request, "accounts/account.html", context, status=400)


@require_POST
@account_view(min_role=Membership.Role.OWNER)
def invitation_revoke_view(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = invitation_get_in_account(account=request.account, pk=invitation_id)
    if invitation_revoke(invitation=invitation, by=request.user):
        messages.success(request, f"The invitation of {invitation.email} is withdrawn.")
    return redirect("account:detail", account_slug=request.account.slug)


@require_POST
@account_view(min_role=Membership.Role.OWNER)
def member_role_view(request: HttpRequest, member_id: int) -> HttpResponse:
    membership = membership_get_in_account(account=request.account, pk=member_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose owner, admin or member.")
    else:
        try:
            changed = membership_role_change(
                membership=membership, role=form.cleaned_data["role"], by=request.user
            )
        except ApplicationError as refused:
            messages.error(request, refused.message)
        else:
            role = Membership.Role(form.cleaned_data["role"]).label.lower()
            if changed:
                messages.success(request, f"{membership.user.email} is now {role}.")
            else:
                messages.info(
                    request, f"{membership.user.email} is already {role}; nothing changed."
                )
    return redirect("account:detail", account_slug=request.account.slug)


@require_http_methods(["GET", "POST"])
@account_view()
def member_remove_view(request: HttpRequest, member_id: int) -> HttpResponse:
    """Owners take a member out of the account; anyone leaves it. Asks first."""
    membership = membership_get_in_account(account=request.account, pk=member_id)
    leaving = membership.pk == request.membership.pk
    if not leaving and not request.membership.can_change_plan:
        raise PermissionDenied("Only owners remove other members.")
    if request.method == "GET":
        context = {
            "member": membership,
            "leaving": leaving,
            "sole_owner": is_sole_owner(membership=membership),
        }
        return render(request, "accounts/member_remove.html", context)
    try:
        membership_remove(membership=membership, by=request.user)
    except ApplicationError as refused:
        messages.error(request, refused.message)
        return redirect("account:detail", account_slug=request.account.slug)
    if leaving:
        messages.success(request, f"You left {request.account.name}.")
        return redirect("home")
    messages.success(
        request,
        f"{membership.user.email} is no longer a member of {request.account.name}; their API "
        "tokens for it are revoked.",
    )
    return redirect("account:detail", account_slug=request.account.slug)


@require_http_methods(["GET", "POST"])
def invitation_view(request: HttpRequest, raw: str) -> HttpResponse:
    """The page an invitation's link opens: join (logged in with the invited address), log
    in first, or make a login for the address."""
    invitation = invitation_for_link(raw=raw)
    if invitation is None or not invitation_usable(invitation=invitation, now=timezone.now()):
        context = {"closed": True, "days": INVITATION_DAYS}
        return render(request, "accounts/invitation.html", context, status=404)
    user = request.user
    has_login = login_exists(email=invitation.email)
    form = None
    if not user.is_authenticated and not has_login:
        form = InvitationSignupForm(
            request.POST if request.method == "POST" else None, email=invitation.email
        )
    if request.method == "POST":
        joined = False
        try:
            if user.is_authenticated:
                joined = bool(invitation_accept(invitation=invitation, user=user))
            elif form is not None and form.is_valid():
                user = invitation_signup(
                    invitation=invitation, password=form.cleaned_data["password"]
                )
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                joined = True
        except ApplicationError as refused:
            messages.error(request, refused.message)
        if joined:
            messages.success(request, f"Welcome to {invitation.account.name}.")
            return redirect("sites:list", account_slug=invitation.account.slug)
    context = {
        "invitation": invitation,
        "form": form,
        "has_login": has_login,
        "other_login": user.is_authenticated and user.email.lower() != invitation.email,
    }
    return render(
        request, "accounts/invitation.html", context, status=400 if form and form.errors else 200
    )
