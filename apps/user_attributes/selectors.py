"""Reads of the attribute catalogue for the User Attributes settings page."""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from django.db.models import QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from apps.sites.models import Site
from apps.user_attributes.models import TYPE_BITS, AttributeKey, AttributeRejection, ValueType
from apps.user_attributes.validation import KEY_RE, MAX_KEY_LENGTH, MAX_KEYS_PER_SITE, Reason

# Words of key names that suggest personal data. Sent for anonymous visitors, such data
# can never be found by Visitor Lookup, so the catalogue flags them. Whole words, in the
# singular (`hotel_id`, `intel_cpu` and `gift_card_balance` hold none; `emails` does),
# with the pairs that name personal data only together (`first_name`, `card_number`).
PERSONAL_WORDS = frozenset(
    {
        "email", "mail", "phone", "phonenumber", "mobilenumber", "telephone", "tel",
        "mobile", "cell", "fax", "street",
        "address", "zip", "zipcode", "postcode", "postalcode", "firstname", "lastname",
        "fullname", "surname", "familyname", "givenname", "username", "birth", "birthday",
        "birthdate", "birthplace", "dateofbirth", "dob", "ssn", "passport", "iban",
    }
)  # fmt: skip
# Words that also name personal data at the end of a word run together (`useremail`,
# `billingaddress`, `mobilephone`), but for the devices named so.
PERSONAL_ENDINGS = ("email", "address", "phone")
NOT_PERSONAL = frozenset(
    {"iphone", "smartphone", "headphone", "microphone", "earphone", "payphone", "xylophone"}
)
PERSONAL_PAIRS = frozenset(
    {
        ("first", "name"), ("last", "name"), ("full", "name"), ("given", "name"),
        ("family", "name"), ("user", "name"), ("customer", "name"), ("contact", "name"),
        ("cardholder", "name"), ("holder", "name"), ("display", "name"), ("post", "code"),
        ("postal", "code"), ("card", "number"), ("credit", "card"), ("national", "id"),
        ("tax", "id"), ("phone", "number"), ("ip", "address"),
    }
)  # fmt: skip
_KEY_WORD_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def _singular(word: str) -> str:
    if word.endswith("ss"):  # address, pass
        return word
    for ending, replacement in (("sses", "ss"), ("ies", "y"), ("es", "e"), ("s", "")):
        if word.endswith(ending) and len(word) > len(ending) + 2:
            return word[: -len(ending)] + replacement
    return word


def _personal_word(word: str) -> bool:
    if word in PERSONAL_WORDS:
        return True
    return word not in NOT_PERSONAL and word.endswith(PERSONAL_ENDINGS)


def key_looks_personal(entry: AttributeKey) -> bool:
    """Whether a catalogue key's name suggests personal data: a word of its name (split at
    `_ . -`, digits and camelCase, in the singular) is one or ends in one, or two words in
    a row are. A key only ever sent as a boolean is a flag, never the data itself
    (`has_email`, `is_mobile`)."""
    if entry.types_mask == TYPE_BITS[ValueType.BOOLEAN]:
        return False
    words = [_singular(word.lower()) for word in _KEY_WORD_RE.findall(entry.key)]
    return any(_personal_word(word) for word in words) or any(
        pair in PERSONAL_PAIRS for pair in pairwise(words)
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
        CatalogueEntry(key=entry, looks_personal=key_looks_personal(entry))
        for entry in AttributeKey.objects.filter(site=site).order_by("key")
    ]


def attribute_key_get(*, site: Site, key: str) -> AttributeKey:
    """The site's catalogue entry for `key`; another site's is "not found", and so is a
    text no key can be (never sent to the database: PostgreSQL refuses a NUL byte)."""
    if len(key) > MAX_KEY_LENGTH or not KEY_RE.fullmatch(key):
        raise Http404("No such attribute key.")
    entry = AttributeKey.objects.filter(site=site, key=key).first()
    if entry is None:
        raise Http404("No such attribute key.")
    return entry


def catalogue_room(*, site: Site) -> int:
    return MAX_KEYS_PER_SITE - AttributeKey.objects.filter(site=site).count()


@dataclass(frozen=True)
class RejectionRow:
    reason: str
    message: str
    count: int
    keys: list[str]  # the most rejected first, at most REJECTED_KEYS_SHOWN
    more: int = 0  # keys not shown


REJECTED_KEYS_SHOWN = 20
# The settings page shows this many days of rejected attributes; older counts are purged.
REJECTION_DAYS = 7


def rejection_summary(
    *, site: Site, days: int = REJECTION_DAYS, now: datetime | None = None
) -> list[RejectionRow]:
    """Rejected attributes per reason over the last `days` days, most frequent first, each
    with its most rejected keys (a site lists at most 1,000 keys a day, so the rows read
    here are bounded)."""
    since = (now or timezone.now()).date() - timedelta(days=days - 1)
    rows: QuerySet = (
        AttributeRejection.objects.filter(site=site, day__gte=since)
        .values("reason", "key")
        .annotate(total=Sum("count"))
        .order_by("reason", "-total", "key")
    )
    counts: dict[str, int] = {}
    keys: dict[str, list[str]] = {}
    for row in rows:
        reason = row["reason"]
        counts[reason] = counts.get(reason, 0) + row["total"]
        keys.setdefault(reason, []).append(row["key"])
    return sorted(
        (
            RejectionRow(
                reason=reason,
                message=Reason.MESSAGES.get(reason, ""),
                count=count,
                keys=keys[reason][:REJECTED_KEYS_SHOWN],
                more=max(len(keys[reason]) - REJECTED_KEYS_SHOWN, 0),
            )
            for reason, count in counts.items()
        ),
        key=lambda row: (-row.count, row.reason),
    )
