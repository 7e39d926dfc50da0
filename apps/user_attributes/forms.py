from django import forms

from apps.consent.selectors import STATEMENT_DPA, STATEMENT_PRIVACY


class EnableForm(forms.Form):
    """The confirmation dialog: both statements must be ticked."""

    privacy_reviewed = forms.BooleanField(
        required=True,
        error_messages={"required": "Confirm that you reviewed the privacy considerations."},
        # The dialog opens on its first statement, not on the link to the agreement above.
        widget=forms.CheckboxInput(attrs={"autofocus": True}),
    )
    dpa_signed = forms.BooleanField(
        required=True,
        error_messages={
            "required": "Confirm that the account accepts the Data Processing Agreement."
        },
    )

    def __init__(self, *args, statements: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["privacy_reviewed"].label = statements[STATEMENT_PRIVACY]
        self.fields["dpa_signed"].label = statements[STATEMENT_DPA]

    def confirmed(self) -> set[str]:
        confirmed = set()
        if self.cleaned_data.get("privacy_reviewed"):
            confirmed.add(STATEMENT_PRIVACY)
        if self.cleaned_data.get("dpa_signed"):
            confirmed.add(STATEMENT_DPA)
        return confirmed
