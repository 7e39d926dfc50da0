from django import forms

from apps.accounts.models import Account


class PlanChangeForm(forms.Form):
    tier = forms.ChoiceField(choices=Account.Tier.choices)
