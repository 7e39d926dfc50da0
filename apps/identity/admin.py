from django.contrib import admin

from apps.common.admin import ReadOnlyAdmin, SiteRowsAdmin
from apps.identity.models import PrivacyAudit, ProcessedMessage, Profile, Session, Visitor


@admin.register(Profile)
class ProfileAdmin(SiteRowsAdmin):
    list_display = ("__str__", "user_id", "site", "created_at", "updated_at")
    list_filter = (("user_id", admin.EmptyFieldListFilter),)
    search_fields = ("user_id", "site__key", "site__name")
    list_select_related = ("site",)
    raw_id_fields = ("site",)
    date_hierarchy = "created_at"


@admin.register(Visitor)
class VisitorAdmin(SiteRowsAdmin):
    list_display = ("visitor_id", "site", "profile", "first_seen_at", "last_seen_at")
    list_filter = (("profile", admin.EmptyFieldListFilter),)
    search_fields = ("visitor_id", "profile__user_id", "site__key", "site__name")
    list_select_related = ("site", "profile")
    raw_id_fields = ("site", "profile")


@admin.register(Session)
class SessionAdmin(SiteRowsAdmin):
    list_display = (
        "session_key",
        "site",
        "visitor",
        "profile",
        "landing_url",
        "page_count",
        "started_at",
    )
    search_fields = ("session_key", "visitor__visitor_id", "profile__user_id", "site__key")
    list_select_related = ("site", "visitor", "profile")
    raw_id_fields = ("site", "visitor", "profile")
    date_hierarchy = "started_at"


@admin.register(ProcessedMessage)
class ProcessedMessageAdmin(SiteRowsAdmin):
    list_display = ("message_id", "site", "created_at")
    search_fields = ("message_id", "site__key")
    list_select_related = ("site",)
    raw_id_fields = ("site",)
    date_hierarchy = "created_at"


@admin.register(PrivacyAudit)
class PrivacyAuditAdmin(ReadOnlyAdmin):
    """The append-only trail of Visitor Lookups and deletions (it names no one)."""

    list_display = (
        "created_at",
        "action",
        "channel",
        "site_name",
        "account",
        "requested_by_email",
        "profiles_found",
    )
    list_filter = ("action", "channel")
    search_fields = ("site_name", "account__name", "account__slug", "requested_by_email")
    list_select_related = ("account",)
    raw_id_fields = ("account", "site", "requested_by")
    date_hierarchy = "created_at"
