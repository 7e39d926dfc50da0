from django.db.models import QuerySet

from apps.accounts.models import Account
from apps.consent.models import ConsentRecord, SignedDPA
from apps.sites.models import Site

DPA_VERSION = "2026-01"
STATEMENT_PRIVACY = "privacy_reviewed"
STATEMENT_DPA = "dpa_signed"


def consent_statements(*, account: Account) -> dict[str, str]:
    """The statements an owner confirms to enable User Attributes, by id."""
    return {
        STATEMENT_PRIVACY: (
            "I have reviewed the privacy considerations of User Attributes: they may carry "
            "personal data of our visitors, we will send personal data only with a user id, "
            "and we will answer lookup and deletion requests through Visitor Lookup."
        ),
        STATEMENT_DPA: (
            f"{account.name} accepts Cohort's Data Processing Agreement (version "
            f"{DPA_VERSION}) and will use User Attributes in line with it and with the laws "
            "that apply to us and our visitors."
        ),
    }


def consent_history(*, account: Account, site: Site | None = None) -> QuerySet[ConsentRecord]:
    records = ConsentRecord.objects.filter(account=account).select_related("user")
    return records.filter(site=site) if site is not None else records


def signed_dpa_latest(*, account: Account) -> SignedDPA | None:
    return SignedDPA.objects.filter(account=account).first()
