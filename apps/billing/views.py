from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.models import Account, Membership
from apps.billing.forms import PlanChangeForm
from apps.billing.selectors import ELIGIBLE_TIERS, plan_history, user_attributes_access
from apps.billing.services import plan_change
from apps.common.tenancy import account_view

TIER_ORDER = list(Account.Tier.values)
TIER_FEATURES = {
    Account.Tier.BASIC: "Sites, tracking snippet, Polls and Incoming Feedback.",
    Account.Tier.PLUS: "Everything in Basic, more responses per month.",
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
    before = request.account.tier
    change = plan_change(
        account=request.account, tier=form.cleaned_data["tier"], changed_by=request.user
    )
    if change is None:
        messages.info(request, "That is already your plan.")
    else:
        verb = (
            "Upgraded" if TIER_ORDER.index(change.to_tier) > TIER_ORDER.index(before) else "Moved"
        )
        messages.success(request, f"{verb} to {Account.Tier(change.to_tier).label}.")
    return redirect("billing:plan", account_slug=request.account.slug)
