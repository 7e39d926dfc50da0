from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.models import Account, Membership
from apps.billing.forms import PlanChangeForm
from apps.billing.selectors import (
    ELIGIBLE_TIERS,
    MIN_BILLING_VERSION,
    plan_change_losses,
    plan_history,
    user_attributes_access,
)
from apps.billing.services import plan_change
from apps.common.tenancy import account_view
from apps.feedback_targeting.selectors import (
    REASON_PLAN,
    SwitchedOff,
    widgets_switched_off_in_account,
)

TIER_ORDER = list(Account.Tier.values)
TIER_FEATURES = {
    Account.Tier.BASIC: "Sites, tracking snippet, Polls and Incoming Feedback.",
    Account.Tier.PLUS: "Everything in Basic. User Attributes start at Business.",
    Account.Tier.BUSINESS: "Everything in Plus, User Attributes and the Identify API.",
    Account.Tier.SCALE: "Everything in Business, for the largest sites.",
}


def _plan_context(request: HttpRequest, form: PlanChangeForm | None = None) -> dict:
    account = request.account
    current = TIER_ORDER.index(account.tier)
    tiers = [
        {
            "value": value,
            "label": label,
            "features": TIER_FEATURES[value],
            "current": value == account.tier,
            "direction": "upgrade" if i > current else "downgrade",
            "has_user_attributes": value in ELIGIBLE_TIERS,
            # V1 accounts do not get them with any tier (the billing version moves only
            # through support): the tier's card says so instead of promising them.
            "billing_version_blocks": account.billing_version < MIN_BILLING_VERSION,
        }
        for i, (value, label) in enumerate(Account.Tier.choices)
    ]
    return {
        "tiers": tiers,
        "access": user_attributes_access(account=account),
        "history": plan_history(account=account),
        "can_change_plan": request.membership.can_change_plan,
        "form": form,
    }


@account_view()
@require_GET
def plan_detail(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/plan.html", _plan_context(request))


@account_view(min_role=Membership.Role.OWNER)
@require_POST
def plan_update(request: HttpRequest) -> HttpResponse:
    form = PlanChangeForm(request.POST)
    if not form.is_valid():
        return render(request, "billing/plan.html", _plan_context(request, form), status=400)
    account, tier = request.account, form.cleaned_data["tier"]
    losses = plan_change_losses(account=account, tier=tier)
    if losses is not None and not form.cleaned_data["confirm"]:
        context = {"tier": tier, "label": Account.Tier(tier).label, "losses": losses}
        return render(request, "billing/downgrade_confirm.html", context)
    had_access = user_attributes_access(account=account).allowed
    before = account.tier
    change = plan_change(account=account, tier=tier, changed_by=request.user)
    if change is None:
        messages.info(request, "That is already your plan.")
        return redirect("billing:plan", account_slug=account.slug)
    label = Account.Tier(change.to_tier).label
    if TIER_ORDER.index(change.to_tier) > TIER_ORDER.index(before):
        message = f"Upgraded to {label}."
    else:
        message = f"Moved to {label}."
    if losses is not None:
        n = losses.widgets
        message += " Identify calls are now refused on every site"
        if n:
            message += f"; {_widgets(n)} targeting attributes {'was' if n == 1 else 'were'} "
            message += "switched off"
        message += ". The attributes collected stay, and can be looked up and deleted."
    elif change.to_tier in ELIGIBLE_TIERS and account.billing_version < MIN_BILLING_VERSION:
        message += (
            " User Attributes also need billing version V2; this account is on V1: contact "
            "support to move it."
        )
    elif not had_access and user_attributes_access(account=account).allowed:
        off = widgets_switched_off_in_account(account=account, reason=REASON_PLAN)
        message += _widgets_back_message(off)
    messages.success(request, message)
    return redirect("billing:plan", account_slug=account.slug)


def _widgets_back_message(off: SwitchedOff) -> str:
    """What an upgrade that brings User Attributes back means for the widgets the plan
    switched off: those that can run stay off until switched on; those on sites whose
    User Attributes were disabled since need them enabled first."""
    if not off.can_run and not off.site_names_blocked:
        return ""
    message = " User Attributes are back"
    if off.can_run:
        one = off.can_run == 1
        message += (
            f"; {_widgets(off.can_run)} switched off with them {'stays' if one else 'stay'} "
            f"off until you switch {'it' if one else 'them'} on in Widgets"
        )
    if off.site_names_blocked:
        names = ", ".join(off.site_names_blocked)
        message += (
            f"; widgets that target on them stay off on {names} until User Attributes are "
            "enabled there"
        )
    return message + "."


def _widgets(n: int) -> str:
    return "1 widget" if n == 1 else f"{n} widgets"
