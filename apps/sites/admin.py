from django import forms
from django.contrib import admin

from apps.common.admin import CascadeDeleteAdminMixin
from apps.sites.models import Site
from apps.sites.origins import parse_origins
from apps.sites.selectors import sites_row_counts
from apps.sites.services import site_retire, site_update


class SiteAdminForm(forms.ModelForm):
    allowed_origins = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One origin per line (scheme://host[:port]).",
    )

    class Meta:
        model = Site
        fields = ("name", "allowed_origins")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["allowed_origins"] = "\n".join(self.instance.allowed_origins or [])

    def clean_allowed_origins(self) -> list[str]:
        return parse_origins(self.cleaned_data.get("allowed_origins", ""))


@admin.register(Site)
class SiteAdmin(CascadeDeleteAdminMixin, admin.ModelAdmin):
    """Sites are created by their account's owners and admins in the app; User Attributes
    are switched on there too, with the privacy confirmation. Staff rename a site, fix its
    origins, or delete it (with all of its data)."""

    form = SiteAdminForm
    list_display = ("name", "account", "key", "user_attributes_enabled", "created_at")
    list_filter = ("user_attributes_enabled",)
    search_fields = ("name", "key", "account__name", "account__slug")
    list_select_related = ("account",)
    fields = (
        "name",
        "account",
        "key",
        "allowed_origins",
        "user_attributes_enabled",
        "created_by",
        "created_at",
    )
    readonly_fields = ("account", "key", "user_attributes_enabled", "created_by", "created_at")

    def has_add_permission(self, request) -> bool:
        return False

    def save_model(self, request, obj: Site, form, change: bool) -> None:
        site_update(
            site=obj,
            name=form.cleaned_data["name"],
            allowed_origins=form.cleaned_data["allowed_origins"],
        )

    def deletion_counts(self, objs) -> dict[str, int]:
        return sites_row_counts(site_ids=[site.pk for site in objs])

    def delete_model(self, request, obj: Site) -> None:
        site_retire(site=obj)
        self.erase_once_committed(request, [obj.pk])

    def delete_queryset(self, request, queryset) -> None:
        sites = list(queryset)
        for site in sites:
            site_retire(site=site)
        self.erase_once_committed(request, [site.pk for site in sites])
