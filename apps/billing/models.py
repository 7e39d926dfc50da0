from django.conf import settings
from django.db import models

from apps.accounts.models import Account


class PlanChange(models.Model):
    """Append-only record of every change to an account's tier or billing version."""

    class Source(models.TextChoices):
        OWNER = "owner", "Account owner"
        STAFF = "staff", "Staff (admin)"
        SIGNUP = "signup", "Sign-up"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="plan_changes")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # The email of who made the change, as it was: the history still names them once
    # their user is deleted (`changed_by` then goes empty).
    changed_by_email = models.EmailField(blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    from_tier = models.CharField(max_length=16, choices=Account.Tier.choices, blank=True)
    to_tier = models.CharField(max_length=16, choices=Account.Tier.choices)
    from_billing_version = models.PositiveSmallIntegerField(null=True, blank=True)
    to_billing_version = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.account}: {self.from_tier or '—'} → {self.to_tier}"

    @property
    def summary(self) -> str:
        """ "Basic V2 → Business V2", or "Basic V2" for the plan an account started on."""
        to = f"{Account.Tier(self.to_tier).label} V{self.to_billing_version}"
        if not self.from_tier:
            return to
        return f"{Account.Tier(self.from_tier).label} V{self.from_billing_version} → {to}"

    @property
    def who(self) -> str:
        """Who made the change, for the plan page and the audit trail; a change no user
        made (a staff script, say) is Cohort support's."""
        return self.changed_by_email or "Cohort support"
