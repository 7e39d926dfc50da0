from django.contrib import admin

from apps.common.admin import SiteRowsAdmin
from apps.user_attributes.models import AttributeKey, AttributeRejection, AttributeValue


@admin.register(AttributeValue)
class AttributeValueAdmin(SiteRowsAdmin):
    # Which keys a profile holds, of which type, and when they changed; never the values:
    # they are the customer's visitors' personal data, which the account's members read
    # through Visitor Lookup, where each reading is recorded. Staff read none unrecorded.
    list_display = ("key", "value_type", "profile", "site", "updated_at")
    list_filter = ("value_type",)
    search_fields = ("key", "profile__user_id", "site__key", "site__name")
    list_select_related = ("site", "profile")
    fields = ("key", "value_type", "profile", "site", "updated_at")
    readonly_fields = fields


@admin.register(AttributeKey)
class AttributeKeyAdmin(SiteRowsAdmin):
    list_display = (
        "key",
        "site",
        "value_type",
        "profile_count",
        "anonymous_count",
        "has_type_conflict",
        "first_seen_at",
        "last_seen_at",
    )
    list_filter = ("value_type",)
    search_fields = ("key", "site__key", "site__name")
    list_select_related = ("site",)
    raw_id_fields = ("site",)

    @admin.display(boolean=True, description="Type conflict")
    def has_type_conflict(self, obj: AttributeKey) -> bool:
        return obj.has_type_conflict


@admin.register(AttributeRejection)
class AttributeRejectionAdmin(SiteRowsAdmin):
    list_display = ("day", "key", "reason", "count", "site")
    list_filter = ("reason",)
    search_fields = ("key", "reason", "site__key", "site__name")
    list_select_related = ("site",)
    raw_id_fields = ("site",)
    date_hierarchy = "day"
