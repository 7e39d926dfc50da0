from django.db import transaction

from apps.accounts.models import Account, User
from apps.billing.models import PlanChange
from apps.billing.selectors import user_attributes_access
from apps.common.errors import ApplicationError
from apps.feedback_targeting.services import REASON_PLAN, widgets_disable_for_attributes
from apps.sites.models import Site
from apps.sites.selectors import site_public_forget


@transaction.atomic
def plan_change(
    *,
    account: Account,
    tier: str,
    billing_version: int | None = None,
    changed_by: User | None,
    source: str = PlanChange.Source.OWNER,
) -> PlanChange | None:
    """Change the tier (and, for staff, the billing version) and record who did it.

    Owners change only the tier; the billing version moves only through staff.
    Returns None when nothing changed.
    """
    if tier not in Account.Tier.values:
        raise ApplicationError("invalid_tier", f"Unknown plan tier {tier!r}.")
    if billing_version is not None and billing_version not in Account.BillingVersion.values:
        raise ApplicationError(
            "invalid_billing_version", f"Unknown billing version {billing_version!r}."
        )
    staff_only = billing_version is not None and billing_version != account.billing_version
    if staff_only and source != PlanChange.Source.STAFF:
        raise ApplicationError(
            "billing_version_locked",
            "Only Cohort support can change the billing version. Contact support.",
            status_code=403,
        )
    locked = Account.objects.select_for_update(no_key=True).get(pk=account.pk)
    new_version = billing_version if billing_version is not None else locked.billing_version
    if locked.tier == tier and locked.billing_version == new_version:
        return None
    change = PlanChange.objects.create(
        account=locked,
        changed_by=changed_by,
        changed_by_email=changed_by.email if changed_by else "",
        source=source,
        from_tier=locked.tier,
        to_tier=tier,
        from_billing_version=locked.billing_version,
        to_billing_version=new_version,
    )
    had_access = user_attributes_access(account=locked).allowed
    locked.tier = tier
    locked.billing_version = new_version
    locked.save(update_fields=["tier", "billing_version"])
    account.tier, account.billing_version = tier, new_version
    sites = list(Site.objects.filter(account=locked).order_by("pk"))
    for site in sites:  # the public site lookup carries the account's plan
        site_public_forget(key=site.key)
    if had_access and not user_attributes_access(account=locked).allowed:
        for site in sites:
            widgets_disable_for_attributes(site=site, reason=REASON_PLAN)
    return change
