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
