"""Typed attribute values per profile and the per-site attribute catalogue."""

from django.db import models

from apps.common.models import site_key
from apps.identity.models import Profile


class ValueType(models.TextChoices):
    NUMBER = "number", "Number"
    STRING = "string", "String"
    DATE = "date", "Date"
    BOOLEAN = "boolean", "Boolean"


# Bits of AttributeKey.types_mask: which types a key has been sent with.
TYPE_BITS = {ValueType.NUMBER: 1, ValueType.STRING: 2, ValueType.DATE: 4, ValueType.BOOLEAN: 8}


class AttributeValue(models.Model):
    """The latest value of one key for one profile, in the column of its type."""

    site = site_key()
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="attributes")
    key = models.CharField(max_length=50)
    value_type = models.CharField(max_length=8, choices=ValueType.choices)
    number_value = models.FloatField(null=True, blank=True)
    # Null when the value has another type: "" is a real (empty) string value.
    string_value = models.CharField(max_length=500, null=True, blank=True)  # noqa: DJ001
    date_value = models.DateTimeField(null=True, blank=True)
    boolean_value = models.BooleanField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["site", "profile", "key"], name="attribute_value_unique_key"
            ),
            models.CheckConstraint(
                name="attribute_value_typed",
                condition=(
                    models.Q(value_type="number", number_value__isnull=False)
                    | models.Q(value_type="string", string_value__isnull=False)
                    | models.Q(value_type="date", date_value__isnull=False)
                    | models.Q(value_type="boolean", boolean_value__isnull=False)
                ),
            ),
        ]
        # One index per type, holding only the rows of that type and carrying the profile:
        # a targeting count or an email lookup reads one of them and never the table.
        # Each comes twice: ordered by value, to read a condition's rows; and ordered by
        # profile within the key, carrying the value, so that a count of several
        # conditions merges their rows in profile order (or probes one per row) instead
        # of hashing hundreds of thousands of them. A row is in exactly one of each pair.
        indexes = [
            models.Index(
                fields=["site", "key", f"{value_type}_value"],
                include=["profile"],
                condition=models.Q(value_type=value_type),
                name=f"attr_{value_type}",
            )
            for value_type in ("number", "string", "date", "boolean")
        ] + [
            models.Index(
                fields=["site", "key", "profile"],
                include=[f"{value_type}_value"],
                condition=models.Q(value_type=value_type),
                name=f"attr_{value_type}_by_profile",
            )
            for value_type in ("number", "string", "date", "boolean")
        ]

    def __str__(self) -> str:
        # Without the value: a visitor's personal data stays out of logs and admin titles.
        return f"{self.key} ({self.value_type})"

    @property
    def value(self):
        return {
            ValueType.NUMBER: self.number_value,
            ValueType.STRING: self.string_value,
            ValueType.DATE: self.date_value,
            ValueType.BOOLEAN: self.boolean_value,
        }[self.value_type]


class AttributeKey(models.Model):
    """The site's attribute catalogue: one row per key ever accepted."""

    site = site_key()
    key = models.CharField(max_length=50)
    # The type of the most recent value sent under this key.
    value_type = models.CharField(max_length=8, choices=ValueType.choices)
    # Every type this key has been sent with (bits of TYPE_BITS); more than one is a conflict.
    types_mask = models.PositiveSmallIntegerField(default=0)
    # Profiles holding a value under this key. A plain integer column: a merge lowers it in
    # the same upsert that raises the call's other keys, and PostgreSQL checks a CHECK
    # constraint on the proposed (negative) row before resolving the conflict; the write
    # itself never takes it below zero.
    profile_count = models.IntegerField(default=0)
    # Times a value arrived for a visitor without a user id (a personal-data warning sign).
    anonymous_count = models.PositiveIntegerField(default=0)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "key"], name="attribute_key_unique_per_site"),
        ]

    def __str__(self) -> str:
        return self.key

    @property
    def types_seen(self) -> list[str]:
        return [t for t, bit in TYPE_BITS.items() if self.types_mask & bit]

    @property
    def has_type_conflict(self) -> bool:
        return len(self.types_seen) > 1


class AttributeRejection(models.Model):
    """How many attributes were rejected per site, day, key and reason."""

    site = site_key()
    day = models.DateField()
    key = models.CharField(max_length=50)
    reason = models.CharField(max_length=40)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["site", "day", "key", "reason"], name="attribute_rejection_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.key}: {self.reason} x{self.count}"
