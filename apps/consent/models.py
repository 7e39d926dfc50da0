"""Append-only records of privacy confirmations and signed Data Processing Agreements."""

from django.conf import settings
from django.db import models

from apps.accounts.models import Account
from apps.common.models import AppendOnlyModel
from apps.sites.models import Site


class ConsentRecord(AppendOnlyModel):
    """Who turned User Attributes on or off for a site, when, and what they confirmed."""

    class Action(models.TextChoices):
        ENABLED = "enabled", "Enabled User Attributes"
        DISABLED = "disabled", "Disabled User Attributes"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    # Kept when the site is deleted: the record outlives the data it was about.
    site = models.ForeignKey(
        Site, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    site_name = models.CharField(max_length=120)
    action = models.CharField(max_length=10, choices=Action.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    user_email = models.EmailField()
    dpa_version = models.CharField(max_length=20, blank=True)
    statements = models.JSONField(default=list, help_text="The exact statements confirmed.")
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "-created_at"], name="consent_account_created")]

    def __str__(self) -> str:
        return f"{self.site_name}: {self.get_action_display()} by {self.user_email}"


class SignedDPA(AppendOnlyModel):
    """A Data Processing Agreement signed on paper or by e-signature, recorded by staff."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="signed_dpas")
    dpa_version = models.CharField(max_length=20)
    signed_on = models.DateField()
    signer_name = models.CharField(max_length=150)
    signer_title = models.CharField(max_length=150, blank=True)
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-signed_on", "-id"]
        verbose_name = "signed DPA"

    def __str__(self) -> str:
        return f"{self.account}: DPA {self.dpa_version} signed {self.signed_on}"
