import json

from django.contrib import admin, messages
from django.utils.html import format_html

from apps.common.admin import ReadOnlyAdminMixin, SiteRowsAdmin
from apps.common.errors import ApplicationError
from apps.feedback_targeting.models import Question, Response, Widget
from apps.feedback_targeting.services import widget_pause

# Widgets, questions and responses are written by the builder and the public API, whose
# services validate targeting rules and refresh the cached widget decision; an edit here
# would skip both. Staff inspect them, and can pause a running widget.


def pretty_json(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))


class QuestionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Question
    extra = 0
    fields = ("position", "kind", "text", "choices", "required")
    readonly_fields = fields
    ordering = ("position",)


@admin.register(Widget)
class WidgetAdmin(SiteRowsAdmin):
    list_display = ("name", "kind", "status", "site", "created_by", "created_at", "updated_at")
    list_filter = ("kind", "status")
    search_fields = ("name", "site__key", "site__name", "site__account__slug")
    list_select_related = ("site", "created_by")
    date_hierarchy = "created_at"
    fields = (
        "name",
        "kind",
        "site",
        "status",
        "disabled_reason",
        "targeting_rule",
        "url_contains",
        "thank_you_message",
        "created_by",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    inlines = [QuestionInline]
    actions = ["pause"]

    @admin.display(description="Targeting")
    def targeting_rule(self, obj: Widget) -> str:
        return pretty_json(obj.targeting)

    def has_pause_permission(self, request) -> bool:
        return request.user.has_perm("feedback_targeting.change_widget")

    @admin.action(description="Pause selected widgets", permissions=["pause"])
    def pause(self, request, queryset) -> None:
        paused, skipped = 0, []
        for widget in queryset:
            try:
                widget_pause(widget=widget)
            except ApplicationError:
                skipped.append(widget.name)
            else:
                paused += 1
        self.message_user(request, f"Paused {paused} widget(s).")
        if skipped:
            self.message_user(
                request,
                f"Not running, left as they were: {', '.join(skipped)}.",
                level=messages.WARNING,
            )


@admin.register(Question)
class QuestionAdmin(SiteRowsAdmin):
    list_display = ("text", "kind", "position", "widget", "site")
    list_filter = ("kind",)
    search_fields = ("text", "widget__name", "site__key", "site__name")
    list_select_related = ("widget", "site")
    fields = ("widget", "site", "position", "kind", "text", "choices_list", "required")
    readonly_fields = fields

    @admin.display(description="Choices")
    def choices_list(self, obj: Question) -> str:
        return pretty_json(obj.choices)


@admin.register(Response)
class ResponseAdmin(SiteRowsAdmin):
    # When and to which widget an answer came, not what it says: its answers, comment,
    # email and page are the visitor's, read by the account's members in the widget's
    # results and in Visitor Lookup (see AttributeValueAdmin).
    list_display = ("created_at", "widget", "site", "profile", "emotion", "consent_to_connect")
    list_filter = ("consent_to_connect", "widget__kind")
    search_fields = ("widget__name", "site__key", "site__name", "profile__user_id")
    list_select_related = ("widget", "site", "profile")
    date_hierarchy = "created_at"
    fields = (
        "widget",
        "site",
        "visitor",
        "profile",
        "created_at",
        "emotion",
        "consent_to_connect",
    )
    readonly_fields = fields
