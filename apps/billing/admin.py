from django.contrib import admin

from apps.billing.models import PlanChange
from apps.common.admin import ReadOnlyAdminMixin


@admin.register(PlanChange)
class PlanChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The plan history is append-only: rows are written by the plan service, never edited.
    Staff change a plan from the account's page."""

    list_display = (
        "created_at",
        "account",
        "source",
        "from_tier",
        "to_tier",
        "from_billing_version",
        "to_billing_version",
        "changed_by",
    )
    list_filter = ("source", "to_tier", "to_billing_version")
    search_fields = ("account__name", "account__slug", "changed_by_email")
    list_select_related = ("account", "changed_by")
    date_hierarchy = "created_at"
