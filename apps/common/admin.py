"""Admin pieces shared by every app."""

from django.contrib import admin


class ReadOnlyAdminMixin:
    """Staff may look but not add, change or delete: for rows written only by a service
    (which keeps related rows in step) and for append-only trails."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    pass
