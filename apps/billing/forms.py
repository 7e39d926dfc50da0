from django import forms

from apps.accounts.models import Account


class PlanChangeForm(forms.Form):
    tier = forms.ChoiceField(
        choices=Account.Tier.choices,
        error_messages={
            "required": "Choose a plan.",
            "invalid_choice": (
                "“%(value)s” is not a plan. Choose one of: " + ", ".join(Account.Tier.labels) + "."
            ),
        },
    )
    # Set by the confirmation page of a change that takes User Attributes away.
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)
