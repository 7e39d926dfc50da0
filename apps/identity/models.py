"""Who a visitor is: devices (visitors), people (profiles) and their sessions.

A visitor is one browser on one device, named by the random id the tracking script
keeps in a first-party cookie. A profile is one person on one site: either a user id from
the customer's database, or the anonymous profile of a visitor that was never identified.
Every row carries its site so the data can be distributed by tenant.
"""

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower

from apps.common.models import AppendOnlyModel, site_key
from apps.sites.models import Site


class Profile(models.Model):
    site = site_key()
    # The customer's user id; null for the anonymous profile of an unidentified visitor.
    user_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["site", "user_id"],
                condition=Q(user_id__isnull=False),
                name="profile_unique_user_id_per_site",
            ),
        ]
        indexes = [
            models.Index(fields=["site", "created_at"], name="profile_site_created"),
            # Visitor Lookup by email finds a user id that is the address in any case. Not
            # partial: PostgreSQL's planner reads the statistics of an expression only from
            # an index of the whole table, and without them it expected thousands of
            # profiles per address and scanned all of them.
            models.Index(F("site"), Lower("user_id"), name="profile_site_user_lowered"),
        ]

    def __str__(self) -> str:
        return self.user_id or f"anonymous #{self.pk}"

    @property
    def is_identified(self) -> bool:
        return self.user_id is not None


class Visitor(models.Model):
    site = site_key()
    visitor_id = models.CharField(max_length=64)
    # The profile this device currently belongs to (null until it is identified or sends
    # anonymous attributes).
    profile = models.ForeignKey(
        Profile, null=True, blank=True, on_delete=models.CASCADE, related_name="visitors"
    )
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "visitor_id"], name="visitor_unique_per_site"),
        ]
        indexes = [models.Index(fields=["site", "profile"], name="visitor_site_profile")]

    def __str__(self) -> str:
        return self.visitor_id


class Session(models.Model):
    """One browsing session of a visitor: landing page, referrer, pages seen."""

    site = site_key()
    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="sessions")
    # Follows the visitor's profile; null while the visitor is unknown, joined on identify.
    profile = models.ForeignKey(
        Profile, null=True, blank=True, on_delete=models.CASCADE, related_name="sessions"
    )
    session_key = models.CharField(max_length=64)
    landing_url = models.CharField(max_length=2000)
    last_url = models.CharField(max_length=2000)
    referrer = models.CharField(max_length=2000, blank=True)
    page_count = models.PositiveIntegerField(default=1)
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "session_key"], name="session_unique_per_site"),
        ]
        indexes = [
            models.Index(fields=["site", "visitor"], name="session_site_visitor"),
            models.Index(fields=["site", "profile", "started_at"], name="session_site_profile"),
        ]

    def __str__(self) -> str:
        return f"{self.session_key} ({self.landing_url})"


class ProcessedMessage(models.Model):
    """A message id already applied, with the answer given, so a retry is not applied twice."""

    site = site_key()
    message_id = models.CharField(max_length=64)
    response = models.JSONField(null=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "message_id"], name="message_unique_per_site"),
        ]
        indexes = [models.Index(fields=["site", "created_at"], name="message_site_created")]

    def __str__(self) -> str:
        return self.message_id


class PrivacyAudit(AppendOnlyModel):
    """Append-only trail of Visitor Lookups and deletions, without personal data.

    The search terms are kept only as a salted hash: given the same terms, staff can show
    that a request was answered, but the record itself names no one.
    """

    class Action(models.TextChoices):
        LOOKUP = "lookup", "Lookup"
        DELETE = "delete", "Deletion"

    class Channel(models.TextChoices):
        PAGE = "page", "Visitor Lookup page"
        API = "api", "Private API"

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    site = models.ForeignKey(
        Site, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    site_name = models.CharField(max_length=120)
    action = models.CharField(max_length=10, choices=Action.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    requested_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_email = models.EmailField()
    searched_user_id = models.BooleanField(default=False)
    searched_email = models.BooleanField(default=False)
    terms_salt = models.CharField(max_length=32)
    terms_hash = models.CharField(max_length=64)
    profiles_found = models.PositiveIntegerField(default=0)
    deleted_counts = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "-created_at"], name="privacy_account_created")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} on {self.site_name} by {self.requested_by_email}"

    @property
    def deleted_summary(self) -> str:
        """What a deletion removed, in the words the pages use everywhere."""
        return deletion_summary(self.deleted_counts)


# What a person's deletion counts, in the order and the words the pages show them.
DELETION_NOUNS = (
    ("profiles", "profile"),
    ("attribute_values", "attribute value"),
    ("visitors", "device"),
    ("sessions", "session"),
    ("responses", "feedback response"),
)


def deletion_summary(counts: dict) -> str:
    """`{"profiles": 1, "visitors": 4, ...}` → "1 profile, …, 4 devices, … and 1 feedback
    response"."""
    parts = [
        f"{n} {noun}{'' if n == 1 else 's'}"
        for key, noun in DELETION_NOUNS
        for n in [counts.get(key, 0)]
    ]
    return f"{', '.join(parts[:-1])} and {parts[-1]}"
