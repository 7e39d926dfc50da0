"""The one place that decides what an identify call may store.

Pure functions, no database: they turn the raw JSON of a call into typed values and a
reason code for every attribute that cannot be stored. The limits below are part of the
public contract (docs/api.md and the OpenAPI schema).
"""

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

import idna

from apps.common.errors import ApplicationError
from apps.common.text import text_unstorable
from apps.user_attributes.models import ValueType

MAX_KEY_LENGTH = 50
MAX_STRING_LENGTH = 500
MAX_ATTRIBUTES_PER_CALL = 100
MAX_KEYS_PER_SITE = 100
MAX_USER_ID_LENGTH = 255
MAX_EMAIL_LENGTH = 254  # the longest address SMTP carries (RFC 5321)
# Integers beyond 2**53 cannot round-trip through JavaScript or a double without loss.
MAX_SAFE_INTEGER = 2**53 - 1
EMAIL_KEY = "email"

KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")  # fullmatch: "$" would let "\n" end a key
ID_RE = re.compile(r"^[A-Za-z0-9_\-]{16,64}$")
# An email address as people write them, in any script: a local part of letters, digits
# and the signs RFC 5322 allows unquoted (o'brien, first+tag), and a domain of letters,
# digits and hyphens ending in a top-level domain of two or more letters (or an IDN's
# punycode form). `\w` is Unicode-aware, so josé@example.com and info@müller.de count.
_LOCAL = r"[\w.!#$%&'*+/=?^`{|}~\-]"
_DOMAIN = r"[\w\-]+(?:\.[\w\-]+)*\.(?:[^\W\d_]{2,}|xn--[a-z0-9\-]+)(?![^\W_])"
EMAIL_RE = re.compile(rf"{_LOCAL}+@{_DOMAIN}", re.IGNORECASE)
# For finding addresses inside text, from each "@": a search with EMAIL_RE would try every
# start and cost the square of the text's length, which a hostile call can make long.
# In text, a local part does not take "/": "https://medium.com/@jane.doe/post" is a link to
# a profile, not an address (one written "a/b@example.com" is still found, as b@...).
_LOCAL_IN_TEXT = _LOCAL.replace("/", "")
_LOCAL_TAIL_RE = re.compile(rf"{_LOCAL_IN_TEXT}{{1,64}}$")
_DOMAIN_RE = re.compile(_DOMAIN, re.IGNORECASE)
MAX_LOCAL_PART = 64  # RFC 5321
# What an email address found in text that is kept (a rejected key) is replaced with.
EMAIL_MASK = "<email>"
# ISO-8601 as browsers, languages and databases write it: `2019-06-20Z`,
# `2019-06-20T10:00:00.000Z` (RFC 3339's lower-case `t` and `z` too, and a decimal comma
# before the fraction), an hour alone after the T (`T10Z`), an offset of hours (`+05`) or
# with minutes (`+0530`, `+05:30`), and PostgreSQL's `2019-06-20 10:00:00+00` (a space
# for the T, or before the offset). A date without a time takes only `Z` or an offset with
# its minutes, so that ids such as `2024-05-06-01` and `2024-05-06+01` stay strings.
ISO_DATE_RE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:"
    r"(?:[Tt](?P<time>\d{2}(?::\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?)"
    r"| (?P<spaced>\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?))"
    r" ?(?P<tz>[Zz]|[+\-]\d{2}(?::?\d{2})?)?"
    r"|(?P<date_tz>[Zz]|[+\-]\d{2}:?\d{2})"
    r")?$"
)
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# User ids that are really a missing value in disguise; accepting them merges every
# visitor of a site into one giant profile.
PLACEHOLDER_USER_IDS = frozenset(
    {"null", "undefined", "none", "nil", "nan", "[object object]", "anonymous", "0", "-1"}
)


class Reason:
    """Why one attribute was not stored. Stable codes, documented in docs/api.md."""

    INVALID_KEY = "invalid_key"
    KEY_TOO_LONG = "key_too_long"
    UNSUPPORTED_TYPE = "unsupported_type"
    NULL_VALUE = "null_value"
    INVALID_NUMBER = "invalid_number"
    NUMBER_OUT_OF_RANGE = "number_out_of_range"
    STRING_TOO_LONG = "string_too_long"
    INVALID_STRING = "invalid_string"
    INVALID_DATE = "invalid_date"
    INVALID_EMAIL = "invalid_email"
    EMAIL_OUTSIDE_EMAIL_KEY = "email_outside_email_key"
    PII_WITHOUT_USER_ID = "pii_without_user_id"
    TOO_MANY_ATTRIBUTES = "too_many_attributes"
    SITE_KEY_LIMIT_REACHED = "site_key_limit_reached"

    MESSAGES = {
        INVALID_KEY: "Keys start with an ASCII letter or _ and use only A-Z, a-z, 0-9, _ . and -.",
        KEY_TOO_LONG: f"Keys are at most {MAX_KEY_LENGTH} characters.",
        UNSUPPORTED_TYPE: "Values must be a number, string, ISO-8601 date string or boolean; "
        "objects and arrays are not stored.",
        NULL_VALUE: "null is not a value; leave the key out to keep the stored value.",
        INVALID_NUMBER: "NaN and Infinity are not numbers that can be stored.",
        NUMBER_OUT_OF_RANGE: f"Numbers must lie within ±{MAX_SAFE_INTEGER}.",
        STRING_TOO_LONG: f"Strings are at most {MAX_STRING_LENGTH} characters.",
        INVALID_STRING: "Strings cannot hold a NUL character or an unpaired UTF-16 surrogate "
        "(what is left of an emoji cut in two).",
        INVALID_DATE: "This looks like an ISO-8601 date but is not a real date "
        "(or falls outside the years 1 to 9999 in UTC).",
        INVALID_EMAIL: "The email attribute must be a string holding one email address "
        f"(at most {MAX_EMAIL_LENGTH} characters).",
        EMAIL_OUTSIDE_EMAIL_KEY: "Email addresses may only be sent under the key 'email'.",
        PII_WITHOUT_USER_ID: "Personal data (email) is refused for visitors without a user id.",
        TOO_MANY_ATTRIBUTES: f"At most {MAX_ATTRIBUTES_PER_CALL} attributes per call.",
        SITE_KEY_LIMIT_REACHED: f"A site has at most {MAX_KEYS_PER_SITE} attribute keys.",
    }


@dataclass(frozen=True)
class TypedValue:
    value_type: str
    number_value: float | None = None
    string_value: str | None = None
    date_value: datetime | None = None
    boolean_value: bool | None = None

    @property
    def value(self):
        return {
            ValueType.NUMBER: self.number_value,
            ValueType.STRING: self.string_value,
            ValueType.DATE: self.date_value,
            ValueType.BOOLEAN: self.boolean_value,
        }[self.value_type]


@dataclass
class AttributeCheck:
    """The verdict on a call's attributes: typed values to store, reasons for the rest."""

    accepted: dict[str, TypedValue] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)


def email_spellings(email: str) -> list[str]:
    """An address (lower case) as it may be stored: as given, and with its domain in the
    other form of an internationalised name (`müller.de` / `xn--mller-kva.de`), both of
    which identify and the widgets accept."""
    spellings = [email]
    local, _, domain = email.rpartition("@")
    if local:
        try:
            other = (
                idna.decode(domain)
                if "xn--" in domain
                else idna.encode(domain, uts46=True).decode("ascii")
            )
        except (idna.IDNAError, UnicodeError):
            other = domain
        if other.lower() != domain:
            spellings.append(f"{local}@{other.lower()}")
    return spellings


def clean_user_id(raw: object) -> str | None:
    """A non-empty string of bounded length that is not a placeholder, or None.

    Spaces around the id are dropped, as lookup and deletion drop them from their search
    terms: "931493 " (a padded CHAR column, say) is user 931493, and can be found again."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ApplicationError(
            "invalid_user_id", "user_id must be a string or null (send numbers as strings)."
        )
    if not raw.strip() or raw.strip().lower() in PLACEHOLDER_USER_IDS:
        raise ApplicationError(
            "invalid_user_id",
            f"user_id {raw!r} is a placeholder, not a user id: send null for unknown users.",
        )
    if len(raw) > MAX_USER_ID_LENGTH or CONTROL_RE.search(raw):
        raise ApplicationError(
            "invalid_user_id",
            f"user_id must be at most {MAX_USER_ID_LENGTH} characters without control characters.",
        )
    return raw.strip()


def email_spans(text: str) -> list[tuple[int, int]]:
    """Where the email addresses in `text` are, found from each "@" (at most 64 local
    characters before it, one domain after it): time in proportion to the text's length."""
    spans: list[tuple[int, int]] = []
    floor = 0
    at = text.find("@")
    while at != -1:
        local = _LOCAL_TAIL_RE.search(text, max(floor, at - MAX_LOCAL_PART), at)
        domain = _DOMAIN_RE.match(text, at + 1, at + 1 + MAX_EMAIL_LENGTH) if local else None
        if domain:
            spans.append((local.start(), domain.end()))
            floor = domain.end()
        at = text.find("@", at + 1)
    return spans


def emails_masked(text: str, *, keep: int) -> str:
    """The first `keep` characters of `text`, with every email address in them as
    EMAIL_MASK. An address that starts within `keep` characters ends within
    `keep + MAX_EMAIL_LENGTH`, so no more of the text is read."""
    head = text[: keep + MAX_EMAIL_LENGTH]
    parts, last = [], 0
    for start, end in email_spans(head):
        parts += [head[last:start], EMAIL_MASK]
        last = end
    return "".join([*parts, head[last:]])[:keep]


def clean_client_id(raw: object, *, name: str, required: bool = True) -> str | None:
    """Visitor, session and message ids: 16 to 64 characters of A-Z a-z 0-9 _ -."""
    if raw is None and not required:
        return None
    if not isinstance(raw, str) or not ID_RE.fullmatch(raw):  # "$" would let a "\n" end it
        raise ApplicationError(
            f"invalid_{name}", f"{name} must be 16 to 64 characters of A-Z, a-z, 0-9, _ and -."
        )
    return raw


def parse_iso_date(text: str) -> datetime | None:
    """The timestamp an ISO-8601 date string names (UTC when no zone is given), or None
    when the string is not shaped like one. Raises ValueError for impossible dates."""
    match = ISO_DATE_RE.match(text)
    if not match:
        return None
    day = date.fromisoformat(match["date"])
    given = match["time"] or match["spaced"]
    clock = time.fromisoformat(_trim_fraction(given)) if given else time()
    moment = datetime.combine(day, clock)
    tz = match["tz"] or match["date_tz"]
    if tz in (None, "Z", "z"):
        return moment.replace(tzinfo=UTC)
    offset = tz if ":" in tz else f"{tz[:3]}:{tz[3:] or '00'}"
    return datetime.fromisoformat(f"{moment.isoformat()}{offset}").astimezone(UTC)


def _trim_fraction(clock: str) -> str:
    # Python takes at most microseconds; JavaScript sends milliseconds, others nanoseconds.
    head, dot, fraction = clock.replace(",", ".").partition(".")
    return f"{head}.{fraction[:6].ljust(6, '0')}" if dot else clock


def _check_value(key: str, raw: object, *, identified: bool) -> TypedValue | str:
    if isinstance(raw, str) and text_unstorable(raw) is not None:
        return Reason.INVALID_STRING
    if key == EMAIL_KEY:
        if raw is None:
            return Reason.NULL_VALUE
        address = raw.strip() if isinstance(raw, str) else ""
        # The length as stored: lower case can be longer ("İ" becomes two characters).
        stored = address.lower()
        if len(stored) > MAX_EMAIL_LENGTH or not EMAIL_RE.fullmatch(address):
            return Reason.INVALID_EMAIL
        if not identified:
            return Reason.PII_WITHOUT_USER_ID
        return TypedValue(ValueType.STRING, string_value=stored)
    if raw is None:
        return Reason.NULL_VALUE
    if isinstance(raw, bool):
        return TypedValue(ValueType.BOOLEAN, boolean_value=raw)
    if isinstance(raw, int):
        if abs(raw) > MAX_SAFE_INTEGER:
            return Reason.NUMBER_OUT_OF_RANGE
        return TypedValue(ValueType.NUMBER, number_value=float(raw))
    if isinstance(raw, float):
        if not math.isfinite(raw):
            return Reason.INVALID_NUMBER
        if abs(raw) > MAX_SAFE_INTEGER:
            return Reason.NUMBER_OUT_OF_RANGE
        return TypedValue(ValueType.NUMBER, number_value=raw)
    if isinstance(raw, str):
        if len(raw) > MAX_STRING_LENGTH:
            return Reason.STRING_TOO_LONG
        try:
            moment = parse_iso_date(raw.strip())
        except (ValueError, OverflowError):  # no such day, or beyond year 1 to 9999 in UTC
            return Reason.INVALID_DATE
        if moment is not None:
            return TypedValue(ValueType.DATE, date_value=moment)
        if email_spans(raw):
            return Reason.EMAIL_OUTSIDE_EMAIL_KEY
        return TypedValue(ValueType.STRING, string_value=raw)
    return Reason.UNSUPPORTED_TYPE


def check_attributes(attributes: dict, *, identified: bool) -> AttributeCheck:
    """Type every attribute of one call, or give the reason it cannot be stored.

    `identified` is whether the call names a user id: personal data (the `email` key) is
    refused for anonymous visitors.
    """
    result = AttributeCheck()
    for position, (key, raw) in enumerate(attributes.items()):
        if position >= MAX_ATTRIBUTES_PER_CALL:
            result.rejected[key] = Reason.TOO_MANY_ATTRIBUTES
        elif len(key) > MAX_KEY_LENGTH:
            result.rejected[key] = Reason.KEY_TOO_LONG
        elif not KEY_RE.fullmatch(key):
            result.rejected[key] = Reason.INVALID_KEY
        else:
            verdict = _check_value(key, raw, identified=identified)
            if isinstance(verdict, str):
                result.rejected[key] = verdict
            else:
                result.accepted[key] = verdict
    return result
