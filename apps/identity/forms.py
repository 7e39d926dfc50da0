from django import forms


class LookupForm(forms.Form):
    user_id = forms.CharField(required=False, max_length=255, label="User ID")
    email = forms.EmailField(required=False, label="Email")

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
