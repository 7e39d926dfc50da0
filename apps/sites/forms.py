from django import forms

from apps.common.once import OnceForm
from apps.sites.origins import parse_origins


def spaced(text: str) -> str:
    """The text as a page shows it: runs of white space as one space, none at the ends."""
    return " ".join(text.split())


class SiteForm(OnceForm):
    # Its `form_id` is sent by the add-a-site page only: a site is made once per copy.
    name = forms.CharField(max_length=120, help_text="For you, e.g. “Main shop”.")
    allowed_origins = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "https://www.example.com"}),
        help_text=(
            "Where the snippet runs: one origin per line (scheme://host[:port]). "
            "Browsers on other origins are refused; server-side calls are always accepted."
        ),
    )

    def clean_name(self) -> str:
        # Pages show runs of spaces as one: a name is kept as it reads.
        return spaced(self.cleaned_data["name"])

    def clean_allowed_origins(self) -> list[str]:
        return parse_origins(self.cleaned_data.get("allowed_origins", ""))


class SiteDeleteForm(OnceForm):
    confirm_name = forms.CharField(
        label="Type the site name to confirm", help_text="This cannot be undone."
    )

    def __init__(self, *args, site, **kwargs):
        super().__init__(*args, **kwargs)
        self.site = site

    def clean_confirm_name(self) -> str:
        value = spaced(self.cleaned_data["confirm_name"])
        if value != spaced(self.site.name):  # typed as the page shows it
            raise forms.ValidationError("The name does not match; nothing was deleted.")
        return value
