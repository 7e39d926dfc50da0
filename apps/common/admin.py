"""Admin pieces shared by every app."""

from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction


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


class SiteRowsAdmin(ReadOnlyAdmin):
    """Rows of a site, which leave the lists with the site: a deleted site's rows are not
    shown while they wait to be erased."""

    def get_queryset(self, request):
        return super().get_queryset(request).filter(site__deleted_at=None)


class CascadeDeleteAdminMixin:
    """For rows whose deletion takes their dependants with them by design (an account's
    plan history and sites, a site's visitors and profiles, a user's tokens). Those
    dependants are read-only in their own admins, which Django's delete page would take for
    a missing permission and refuse the deletion; and listing them one by one, as that
    page does, would not finish for a large tenant (`deletion_counts`)."""

    def deletion_counts(self, objs) -> dict[str, int] | None:
        """The rows the deletion takes with it, counted by kind without loading them (a
        site may hold millions); None: Django lists them one by one."""
        return None

    def get_deleted_objects(self, objs, request):
        counts = self.deletion_counts(objs)
        if counts is not None:
            return [str(obj) for obj in objs], counts, set(), []
        deleted, model_count, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, model_count, set(), protected

    def erase_once_committed(self, request, site_ids: list[int]) -> None:
        """Erase the rows of the sites just deleted once the admin's transaction commits
        (until then they are not deleted for anyone else), all within one request's
        time, and tell staff if some are left to `manage.py purge_expired`."""
        from apps.sites.services import sites_erase

        def erase() -> None:
            erased = sites_erase(site_ids=site_ids, seconds=settings.COHORT_SITE_ERASE_SECONDS)
            if erased < len(site_ids):
                self.message_user(
                    request,
                    "Nothing of the deleted sites can be seen or reached any more; erasing "
                    "their data takes longer and is finished by manage.py purge_expired "
                    "within the hour.",
                    messages.WARNING,
                )

        if site_ids:
            transaction.on_commit(erase)
