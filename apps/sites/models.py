import secrets

from django.conf import settings
from django.db import models

from apps.accounts.models import Account


def new_site_key() -> str:
    """An unguessable, URL-safe public key (128 bits of randomness)."""
    return secrets.token_urlsafe(16)


class Site(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="sites")
    name = models.CharField(max_length=120)
    key = models.CharField(max_length=32, unique=True, default=new_site_key, editable=False)
    allowed_origins = models.JSONField(
        default=list,
        blank=True,
        help_text="Origins (scheme://host[:port]) allowed to call the public API from a browser.",
    )
    user_attributes_enabled = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["account", "name"])]

    def __str__(self) -> str:
        return self.name
