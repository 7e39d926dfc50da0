"""Staff record signed DPAs and inspect the consent trail in the admin; neither is editable."""

import datetime

import pytest
from django.urls import reverse

from apps.consent.models import ConsentRecord, SignedDPA
from apps.consent.selectors import DPA_VERSION
from tests.consent.factories import ConsentRecordFactory, SignedDPAFactory

ADD_URL = reverse("admin:consent_signeddpa_add")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def test_staff_record_a_signed_dpa_and_are_stamped_as_its_recorder(
    staff_client, staff, owner, account, other_account
):
    # given the add form, which offers the current DPA version and no "recorded by" field
    form = staff_client.get(ADD_URL)
    assert form.status_code == 200
    fields = form.context["adminform"].form.fields
    assert list(fields) == [
        "account",
        "dpa_version",
        "signed_on",
        "signer_name",
        "signer_title",
        "note",
    ]
    assert form.context["adminform"].form.initial["dpa_version"] == DPA_VERSION

    # when staff record the DPA, trying to name someone else as the recorder
    response = staff_client.post(
        ADD_URL,
        {
            "account": account.pk,
            "dpa_version": DPA_VERSION,
            "signed_on": "2026-01-15",
            "signer_name": "  Rachel Green ",
            "signer_title": "CEO",
            "note": "Signed by e-signature.",
            "recorded_by": owner.pk,
        },
    )

    # then one row exists for that account, recorded by the staff member
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:consent_signeddpa_changelist")
    dpa = SignedDPA.objects.get()
    assert (dpa.account, dpa.dpa_version, dpa.signed_on) == (
        account,
        DPA_VERSION,
        datetime.date(2026, 1, 15),
    )
    assert (dpa.signer_name, dpa.signer_title, dpa.note) == (
        "Rachel Green",
        "CEO",
        "Signed by e-signature.",
    )
    assert dpa.recorded_by == staff
    assert dpa.recorded_at is not None
    assert not SignedDPA.objects.filter(account=other_account).exists()


def test_a_missing_signer_is_refused_and_nothing_is_recorded(staff_client, account):
    response = staff_client.post(
        ADD_URL,
        {"account": account.pk, "dpa_version": DPA_VERSION, "signed_on": "2026-01-15"},
    )

    assert response.status_code == 200
    assert "signer_name" in response.context["adminform"].form.errors
    assert not SignedDPA.objects.exists()


def test_a_signed_dpa_cannot_be_changed_or_deleted(staff_client, account):
    dpa = SignedDPAFactory(account=account, signer_name="Rachel Green")
    change_url = reverse("admin:consent_signeddpa_change", args=[dpa.pk])

    page = staff_client.get(change_url)
    edit = staff_client.post(change_url, {"signer_name": "Someone else"})
    delete = staff_client.post(reverse("admin:consent_signeddpa_delete", args=[dpa.pk]))

    assert page.status_code == 200
    assert "Rachel Green" in page.content.decode()
    assert 'name="signer_name"' not in page.content.decode()
    assert (edit.status_code, delete.status_code) == (403, 403)
    dpa.refresh_from_db()
    assert dpa.signer_name == "Rachel Green"


def test_consent_records_are_listed_filtered_and_read_only(staff_client, site, other_site):
    enabled = ConsentRecordFactory(site=site, statements=["First statement.", "Second."])
    ConsentRecordFactory(site=other_site, action=ConsentRecord.Action.DISABLED, statements=[])
    changelist = reverse("admin:consent_consentrecord_changelist")

    filtered = staff_client.get(changelist, {"action__exact": "disabled"})
    searched = staff_client.get(changelist, {"q": site.key})
    detail = staff_client.get(reverse("admin:consent_consentrecord_change", args=[enabled.pk]))
    add = staff_client.get(reverse("admin:consent_consentrecord_add"))

    assert [r.site_name for r in filtered.context["cl"].result_list] == ["Other shop"]
    assert [r.pk for r in searched.context["cl"].result_list] == [enabled.pk]
    assert "<ol><li>First statement.</li><li>Second.</li></ol>" in detail.content.decode()
    assert 'name="action"' not in detail.content.decode()
    assert add.status_code == 403
