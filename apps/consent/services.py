from datetime import date

from django.db import transaction

from apps.accounts.models import Account, User
from apps.accounts.selectors import email_unconfirmed_refusal
from apps.billing.selectors import user_attributes_access
from apps.common.errors import ApplicationError, Forbidden
from apps.consent.models import ConsentRecord, SignedDPA
from apps.consent.selectors import DPA_VERSION, consent_statements
from apps.feedback_targeting.services import REASON_UA_DISABLED, widgets_disable_for_attributes
from apps.sites.models import Site
from apps.sites.selectors import site_locked_for_change, site_public_forget


def _record(*, site: Site, user: User, action: str, statements: list[str], meta: dict):
    return ConsentRecord.objects.create(
        account_id=site.account_id,
        site=site,
        site_name=site.name,
        action=action,
        user=user,
        user_email=user.email,
        dpa_version=DPA_VERSION if action == ConsentRecord.Action.ENABLED else "",
        statements=statements,
        client_ip=meta.get("client_ip"),
        user_agent=(meta.get("user_agent") or "")[:300],
    )


@transaction.atomic
def user_attributes_enable(
    *, site: Site, user: User, confirmed: set[str], client_ip: str | None, user_agent: str = ""
) -> ConsentRecord:
    """Turn User Attributes on for a site after both privacy statements were confirmed."""
    access = user_attributes_access(account=site.account)
    if not access.allowed:
        raise Forbidden(access.code, access.message)
    refusal = email_unconfirmed_refusal(user)  # the confirmation is recorded with it
    if refusal is not None:
        raise refusal
    statements = consent_statements(account=site.account)
    missing = [key for key in statements if key not in confirmed]
    if missing:
        raise ApplicationError(
            "confirmation_required",
            "Confirm both statements to enable User Attributes.",
        )
    locked = site_locked_for_change(site=site)
    if locked.user_attributes_enabled:
        raise ApplicationError("already_enabled", "User Attributes are already enabled.")
    locked.user_attributes_enabled = True
    locked.save(update_fields=["user_attributes_enabled"])
    site.user_attributes_enabled = True
    site_public_forget(key=site.key)
    return _record(
        site=site,
        user=user,
        action=ConsentRecord.Action.ENABLED,
        statements=[statements[key] for key in statements],
        meta={"client_ip": client_ip, "user_agent": user_agent},
    )


@transaction.atomic
def user_attributes_disable(
    *, site: Site, user: User, client_ip: str | None, user_agent: str = ""
) -> ConsentRecord:
    """Turn User Attributes off: identify calls are refused from now on; stored data stays."""
    # FOR NO KEY UPDATE: widget writes that check their foreign key to the site go on
    # meanwhile (a widget being saved holds its row, which the switch-off then updates).
    locked = site_locked_for_change(site=site)
    if not locked.user_attributes_enabled:
        raise ApplicationError("already_disabled", "User Attributes are already disabled.")
    locked.user_attributes_enabled = False
    locked.save(update_fields=["user_attributes_enabled"])
    site.user_attributes_enabled = False
    site_public_forget(key=site.key)
    widgets_disable_for_attributes(site=site, reason=REASON_UA_DISABLED)
    return _record(
        site=site,
        user=user,
        action=ConsentRecord.Action.DISABLED,
        statements=[],
        meta={"client_ip": client_ip, "user_agent": user_agent},
    )


def signed_dpa_record(
    *,
    account: Account,
    dpa_version: str,
    signed_on: date,
    signer_name: str,
    signer_title: str = "",
    note: str = "",
    recorded_by: User,
) -> SignedDPA:
    """Record a Data Processing Agreement the account signed outside Cohort (on paper or by
    e-signature). Rows are never edited: a corrected or renewed DPA is a new row."""
    return SignedDPA.objects.create(
        account=account,
        dpa_version=dpa_version.strip(),
        signed_on=signed_on,
        signer_name=signer_name.strip(),
        signer_title=signer_title.strip(),
        note=note.strip(),
        recorded_by=recorded_by,
    )
