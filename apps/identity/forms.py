from django import forms

from apps.common.once import form_id_field
from apps.user_attributes.validation import EMAIL_RE, MAX_EMAIL_LENGTH


class LookupForm(forms.Form):
    user_id = forms.CharField(required=False, max_length=255, label="User ID")
    # Any address identify and the widgets store (josé@example.com, info@müller.de),
    # which Django's EmailField (and a browser's type="email") would refuse.
    email = forms.CharField(
        required=False,
        max_length=MAX_EMAIL_LENGTH,
        label="Email",
        widget=forms.TextInput(attrs={"inputmode": "email", "spellcheck": "false"}),
    )

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        if email and not EMAIL_RE.fullmatch(email):
            raise forms.ValidationError("Enter an email address, such as rachel@example.com.")
        return email

    def clean(self):
        cleaned = super().clean()
        if (
            not self.errors
            and not (cleaned.get("user_id") or "").strip()
            and not cleaned.get("email")
        ):
            raise forms.ValidationError(
                "Give a user id, an email address, or both. When you know both, search with "
                "both: it is the only way to find everything about a person."
            )
        return cleaned


class PersonDeleteForm(LookupForm):
    # Each copy of the confirmation carries its own id: a copy sent twice deletes once.
    form_id = form_id_field()
