from django import forms

from apps.sites.origins import parse_origins


class SiteForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="For you, e.g. “Main shop”.")
    allowed_origins = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "https://www.example.com"}),
        help_text=(
            "Where the snippet runs: one origin per line (scheme://host[:port]). "
            "Browsers on other origins are refused; server-side calls are always accepted."
        ),
    )

    def clean_allowed_origins(self) -> list[str]:
        return parse_origins(self.cleaned_data.get("allowed_origins", ""))


class SiteDeleteForm(forms.Form):
    confirm_name = forms.CharField(
        label="Type the site name to confirm", help_text="This cannot be undone."
    )

    def __init__(self, *args, site, **kwargs):
        super().__init__(*args, **kwargs)
        self.site = site

    def clean_confirm_name(self) -> str:
        value = self.cleaned_data["confirm_name"].strip()
        if value != self.site.name:
            raise forms.ValidationError("The name does not match; nothing was deleted.")
        return value
