"""Reads of the attribute catalogue for the User Attributes settings page."""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import QuerySet, Sum
from django.utils import timezone

from apps.sites.models import Site
from apps.user_attributes.models import AttributeKey, AttributeRejection
from apps.user_attributes.validation import MAX_KEYS_PER_SITE, Reason

# Key names that suggest personal data. Sent for anonymous visitors, such data can never
# be found by Visitor Lookup, so the catalogue flags them.
PERSONAL_KEY_RE = re.compile(
    r"(e-?mail|phone|mobile|tel(ephone)?|street|address|zip|post(al)?_?code|"
    r"first_?name|last_?name|full_?name|surname|birth|dob|ssn|passport|iban|card)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class CatalogueEntry:
    key: AttributeKey
    looks_personal: bool

    @property
    def personal_on_anonymous(self) -> bool:
        return self.looks_personal and self.key.anonymous_count > 0


def attribute_catalogue(*, site: Site) -> list[CatalogueEntry]:
    return [
        CatalogueEntry(key=entry, looks_personal=bool(PERSONAL_KEY_RE.search(entry.key)))
        for entry in AttributeKey.objects.filter(site=site).order_by("key")
    ]


def catalogue_room(*, site: Site) -> int:
    return MAX_KEYS_PER_SITE - AttributeKey.objects.filter(site=site).count()


@dataclass(frozen=True)
class RejectionRow:
    reason: str
    message: str
    count: int
    keys: list[str]


def rejection_summary(
    *, site: Site, days: int = 7, now: datetime | None = None
) -> list[RejectionRow]:
    """Rejected attributes per reason over the last `days` days, most frequent first."""
    since = (now or timezone.now()).date() - timedelta(days=days - 1)
    rows: QuerySet = (
        AttributeRejection.objects.filter(site=site, day__gte=since)
        .values("reason", "key")
        .annotate(total=Sum("count"))
    )
    by_reason: dict[str, tuple[int, list[str]]] = {}
    for row in rows:
        count, keys = by_reason.get(row["reason"], (0, []))
        by_reason[row["reason"]] = (count + row["total"], [*keys, row["key"]])
    return sorted(
        (
            RejectionRow(
                reason=reason,
                message=Reason.MESSAGES.get(reason, ""),
                count=count,
                keys=sorted(keys),
            )
            for reason, (count, keys) in by_reason.items()
        ),
        key=lambda row: (-row.count, row.reason),
    )
