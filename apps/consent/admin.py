from django.contrib import admin
from django.utils.html import format_html, format_html_join

from apps.common.admin import ReadOnlyAdminMixin
from apps.consent.models import ConsentRecord, SignedDPA
from apps.consent.selectors import DPA_VERSION
from apps.consent.services import signed_dpa_record


@admin.register(SignedDPA)
class SignedDPAAdmin(admin.ModelAdmin):
    """Staff record a DPA an account signed outside Cohort. The record is append-only:
    a correction or a renewal is a new row, so rows can be added but never changed."""

    list_display = (
        "account",
        "dpa_version",
        "signed_on",
        "signer_name",
        "signer_title",
        "recorded_by",
        "recorded_at",
    )
    list_filter = ("dpa_version",)
    search_fields = ("account__name", "account__slug", "signer_name", "recorded_by__email")
    list_select_related = ("account", "recorded_by")
    autocomplete_fields = ("account",)
    date_hierarchy = "signed_on"
    add_fields = ("account", "dpa_version", "signed_on", "signer_name", "signer_title", "note")
    recorded_fields = ("recorded_by", "recorded_at")

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else self.add_fields + self.recorded_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.add_fields + self.recorded_fields

    def get_changeform_initial_data(self, request) -> dict:
        return {"dpa_version": DPA_VERSION, **super().get_changeform_initial_data(request)}

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj: SignedDPA, form, change: bool) -> None:
        # Written by the consent service, which stamps the staff member who recorded it.
        recorded = signed_dpa_record(
            account=form.cleaned_data["account"],
            dpa_version=form.cleaned_data["dpa_version"],
            signed_on=form.cleaned_data["signed_on"],
            signer_name=form.cleaned_data["signer_name"],
            signer_title=form.cleaned_data["signer_title"],
            note=form.cleaned_data["note"],
            recorded_by=request.user,
        )
        # The admin logs and links the object it built; point it at the stored row.
        obj.pk = recorded.pk
        obj.recorded_by = recorded.recorded_by
        obj.recorded_at = recorded.recorded_at
        obj._state.adding = False


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The append-only trail of User Attributes being enabled and disabled, written only by
    the consent service when an owner confirms the dialog (admins may disable)."""

    list_display = (
        "created_at",
        "action",
        "site_name",
        "account",
        "user_email",
        "dpa_version",
        "client_ip",
    )
    list_filter = ("action", "dpa_version")
    search_fields = ("site_name", "site__key", "account__name", "account__slug", "user_email")
    list_select_related = ("account",)
    date_hierarchy = "created_at"
    fields = (
        "created_at",
        "action",
        "account",
        "site",
        "site_name",
        "user",
        "user_email",
        "dpa_version",
        "confirmed_statements",
        "client_ip",
        "user_agent",
    )
    readonly_fields = fields

    @admin.display(description="Statements confirmed")
    def confirmed_statements(self, obj: ConsentRecord) -> str:
        if not obj.statements:
            return "—"
        items = format_html_join("", "<li>{}</li>", ((text,) for text in obj.statements))
        return format_html("<ol>{}</ol>", items)
