import secrets

from django.conf import settings
from django.db import models

from apps.accounts.models import Account


def new_site_key() -> str:
    """An unguessable, URL-safe public key (128 bits of randomness)."""
    return secrets.token_urlsafe(16)


class LiveSiteManager(models.Manager):
    """The sites that exist for everyone but the erasure: a deleted site is gone from every
    page, API and count the moment it is deleted, while its rows are erased
    (`apps.sites.services.sites_erase`)."""

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(deleted_at__isnull=True)


class Site(models.Model):
    # Without an account only once deleted: an account deleted while its sites' rows are
    # still being erased leaves them to the erasure.
    account = models.ForeignKey(Account, null=True, on_delete=models.CASCADE, related_name="sites")
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
    # Set when the site is deleted; the row goes once its data is erased.
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    # Deleted sites too: for the erasure alone.
    with_deleted = models.Manager()
    objects = LiveSiteManager()

    class Meta:
        default_manager_name = "objects"
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["account", "name"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(account__isnull=False) | models.Q(deleted_at__isnull=False),
                name="site_has_account_until_deleted",
            )
        ]

    def __str__(self) -> str:
        return self.name
