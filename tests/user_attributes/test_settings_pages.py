"""Settings > User Attributes: plan state, the consent dialog, disabling, the catalogue."""

import re
from datetime import date

import pytest
from django.test import Client

from apps.consent.models import ConsentRecord
from apps.consent.selectors import DPA_VERSION, consent_statements
from apps.consent.services import user_attributes_disable
from apps.feedback_targeting.models import Widget
from apps.identity.services import visitor_identify
from apps.sites.models import Site
from apps.user_attributes.models import AttributeKey, AttributeValue
from apps.user_attributes.validation import MAX_KEYS_PER_SITE
from tests.consent.factories import SignedDPAFactory
from tests.factories import (
    AccountFactory,
    AttributeRejectionFactory,
    MembershipFactory,
    SiteFactory,
)
from tests.feedback_targeting.factories import WidgetFactory

VISITOR = "visitor0visitor0visitor0visitor0"


@pytest.fixture
def disabled_site(account):
    return SiteFactory(account=account, name="Shop", user_attributes_enabled=False)


def url(site, action=""):
    suffix = f"{action}/" if action else ""
    return f"/a/{site.account.slug}/user-attributes/{site.key}/{suffix}"


def test_index_opens_the_first_site(login, owner, disabled_site):
    response = login(owner).get(f"/a/{disabled_site.account.slug}/user-attributes/")
    assert response.status_code == 302
    assert response["Location"] == url(disabled_site)


def test_disabled_site_says_so_and_offers_enabling(login, owner, disabled_site):
    page = login(owner).get(url(disabled_site)).content.decode()

    assert 'id="ua-badge">Disabled' in page
    assert "Identify calls from this site are refused" in page
    assert 'id="enable-button"' in page


class TestEnable:
    def test_dialog_shows_both_exact_statements(self, login, owner, disabled_site):
        response = login(owner).get(url(disabled_site, "enable"), HTTP_HX_REQUEST="true")

        page = response.content.decode()
        assert response.status_code == 200
        assert page.startswith("<dialog")
        for statement in consent_statements(account=disabled_site.account).values():
            assert statement.replace("'", "&#x27;") in page
        # the agreement it accepts can be read from the dialog, and is the one named
        assert 'href="/legal/dpa/" target="_blank" rel="noopener" id="dpa-link"' in page
        assert "recorded with your email address" in page
        agreement = Client().get("/legal/dpa/").content.decode()  # public: no log-in
        assert f"Version {DPA_VERSION}." in agreement
        assert "it is the processor" in agreement

    @pytest.mark.parametrize(
        "ticked",
        [{}, {"privacy_reviewed": "on"}, {"dpa_signed": "on"}],
        ids=["none", "one", "other"],
    )
    def test_both_confirmations_are_required_and_nothing_changes_without(
        self, login, owner, disabled_site, ticked
    ):
        response = login(owner).post(url(disabled_site, "enable"), ticked)

        assert response.status_code == 400
        assert "Confirm that" in response.content.decode()
        disabled_site.refresh_from_db()
        assert disabled_site.user_attributes_enabled is False
        assert not ConsentRecord.objects.exists()

    def test_an_unticked_box_is_described_by_its_error(self, login, owner, disabled_site):
        response = login(owner).post(url(disabled_site, "enable"), {"dpa_signed": "on"})

        page = response.content.decode()
        assert response.status_code == 400
        box = re.search(r'<input type="checkbox" name="privacy_reviewed"[^>]*>', page).group(0)
        assert 'aria-invalid="true"' in box
        assert 'aria-describedby="id_privacy_reviewed_error"' in box
        assert re.search(
            r'<div id="id_privacy_reviewed_error"><p class="error" role="alert">Confirm that ',
            page,
        )
        ticked = re.search(r'<input type="checkbox" name="dpa_signed"[^>]*>', page).group(0)
        assert "aria-describedby" not in ticked
        assert 'id="id_dpa_signed_error"' not in page

    def test_confirming_enables_and_records_who_when_what(self, login, owner, disabled_site):
        response = login(owner).post(
            url(disabled_site, "enable"),
            {"privacy_reviewed": "on", "dpa_signed": "on"},
            HTTP_USER_AGENT="TestBrowser/1.0",
            REMOTE_ADDR="203.0.113.9",
        )

        assert response.status_code == 302
        disabled_site.refresh_from_db()
        assert disabled_site.user_attributes_enabled is True
        record = ConsentRecord.objects.get()
        statements = consent_statements(account=disabled_site.account)
        assert (record.action, record.user, record.user_email) == ("enabled", owner, owner.email)
        assert (record.site, record.site_name, record.dpa_version) == (
            disabled_site,
            "Shop",
            DPA_VERSION,
        )
        assert record.statements == list(statements.values())
        assert (record.client_ip, record.user_agent) == ("203.0.113.9", "TestBrowser/1.0")

    def test_enabling_again_says_the_widgets_switched_off_stay_off(self, login, owner, site):
        targeted = {
            "match": "all",
            "conditions": [{"type": "boolean", "key": "vip", "op": "is_true"}],
        }
        for name in ("VIP poll", "VIP tab"):
            WidgetFactory(site=site, name=name, status="active", targeting=targeted)
        user_attributes_disable(site=site, user=owner, client_ip=None)

        response = login(owner).post(
            url(site, "enable"), {"privacy_reviewed": "on", "dpa_signed": "on"}, follow=True
        )

        page = response.content.decode()
        assert "User Attributes are enabled for" in page
        assert "The 2 widgets Cohort switched off stay off: switch them on in Widgets." in page
        assert set(Widget.objects.values_list("status", flat=True)) == {"disabled"}

    def test_htmx_confirmation_redirects_the_page(self, login, owner, disabled_site):
        response = login(owner).post(
            url(disabled_site, "enable"),
            {"privacy_reviewed": "on", "dpa_signed": "on"},
            HTTP_HX_REQUEST="true",
        )
        assert response.status_code == 200
        assert response["HX-Redirect"] == url(disabled_site)

    def test_ineligible_plan_cannot_enable(self, login, db):
        account = AccountFactory(tier="plus")
        owner = MembershipFactory(account=account, role="owner").user
        site = SiteFactory(account=account, user_attributes_enabled=False)

        page = login(owner).get(url(site)).content.decode()
        response = login(owner).post(
            url(site, "enable"), {"privacy_reviewed": "on", "dpa_signed": "on"}
        )

        assert 'id="plan-notice"' in page
        assert 'id="enable-button"' not in page
        assert response.status_code == 400
        assert "Business plan" in response.content.decode()
        site.refresh_from_db()
        assert site.user_attributes_enabled is False

    def test_v1_account_is_told_to_contact_support(self, login, db):
        account = AccountFactory(tier="business", billing_version=1)
        owner = MembershipFactory(account=account, role="owner").user
        site = SiteFactory(account=account)

        page = login(owner).get(url(site)).content.decode()

        assert "Contact support" in page


class TestDisable:
    def test_disabling_keeps_data_and_is_recorded(self, login, owner, site):
        visitor_identify(site=site, visitor_id=VISITOR, user_id="u1", attributes={"plan": "gold"})

        response = login(owner).post(url(site, "disable"))

        assert response.status_code == 302
        site.refresh_from_db()
        assert site.user_attributes_enabled is False
        assert ConsentRecord.objects.get().action == "disabled"
        page = login(owner).get(url(site)).content.decode()
        assert 'data-key="plan"' in page
        assert "the 1 attribute key already collected stays in place" in page


@pytest.mark.parametrize("action", ["enable", "disable"])
def test_members_cannot_change_it(login, member, account, action):
    site = SiteFactory(account=account, user_attributes_enabled=action == "disable")
    before = Site.objects.get(pk=site.pk).user_attributes_enabled

    response = login(member).post(url(site, action), {"privacy_reviewed": "on", "dpa_signed": "on"})

    assert response.status_code == 403
    assert Site.objects.get(pk=site.pk).user_attributes_enabled == before
    assert not ConsentRecord.objects.exists()
    assert "Only owners can enable User Attributes" in login(member).get(url(site)).content.decode()


def test_an_admin_disables_but_only_an_owner_enables(login, admin_user, account):
    """Enabling confirms the Data Processing Agreement for the account (PRODUCT.md: an
    account owner confirms it); switching personal data off is open to admins too."""
    site = SiteFactory(account=account, user_attributes_enabled=False)
    admin = login(admin_user)

    page = admin.get(url(site)).content.decode()
    refused = admin.post(url(site, "enable"), {"privacy_reviewed": "on", "dpa_signed": "on"})

    assert 'id="enable-button"' not in page
    assert "Only an owner of" in page
    assert refused.status_code == 403
    assert not ConsentRecord.objects.exists()
    Site.objects.filter(pk=site.pk).update(user_attributes_enabled=True)
    assert admin.post(url(site, "disable")).status_code == 302
    assert ConsentRecord.objects.get().action == "disabled"


def test_an_enabled_site_on_a_plan_without_the_feature_says_calls_are_refused(
    login, owner, account, site
):
    Site.objects.filter(pk=site.pk).update(user_attributes_enabled=True)
    account.tier = "plus"
    account.save(update_fields=["tier"])

    page = login(owner).get(url(site)).content.decode()

    assert "Paused by the plan" in page
    assert "Identify calls from this site are stored" not in page


def test_catalogue_rejections_and_personal_data_flags(login, owner, site):
    visitor_identify(site=site, visitor_id=VISITOR, user_id="u1", attributes={"plan": "gold"})
    visitor_identify(site=site, visitor_id=VISITOR, user_id="u1", attributes={"plan": 2})
    visitor_identify(
        site=site,
        visitor_id="anon0000anon0000anon0000anon0000",
        user_id=None,
        attributes={"phone": "555-0100", "email": "a@b.co", "note": "x@y.co"},
    )

    page = login(owner).get(url(site)).content.decode()

    assert "type conflict: number, string" in page
    assert 'id="pii-warning"' in page
    assert "<code>phone</code>" in page
    assert 'data-reason="pii_without_user_id"' in page
    assert 'data-reason="email_outside_email_key"' in page


def test_keys_that_only_look_like_personal_data_raise_no_warning(login, owner, site):
    visitor_identify(
        site=site,
        visitor_id="anon0000anon0000anon0000anon0000",
        user_id=None,
        attributes={"is_mobile": True, "hotel_id": 42, "gift_card_balance": 10, "intel_cpu": "i7"},
    )

    page = login(owner).get(url(site)).content.decode()

    assert "<code>hotel_id</code>" in page
    assert 'id="pii-warning"' not in page


def test_another_accounts_site_is_404(login, owner, other_site):
    for action in ("", "enable", "disable"):
        response = login(owner).get(
            url(other_site, action).replace(other_site.account.slug, "radbooks")
        )
        assert response.status_code == 404
    other_site.refresh_from_db()
    assert other_site.user_attributes_enabled is True


def test_the_latest_signed_dpa_of_this_account_is_on_file(login, owner, site, other_account):
    SignedDPAFactory(
        account=site.account, dpa_version="2025-01", signed_on=date(2025, 3, 1), signer_name="Old"
    )
    SignedDPAFactory(
        account=site.account,
        dpa_version=DPA_VERSION,
        signed_on=date(2026, 1, 15),
        signer_name="Rachel Green",
        signer_title="CEO",
    )
    SignedDPAFactory(account=other_account, signed_on=date(2026, 2, 1), signer_name="Stranger")

    page = login(owner).get(url(site)).content.decode()

    assert (
        f'id="dpa-on-file">DPA on file: version {DPA_VERSION}, signed 2026-01-15 by Rachel Green '
        "(CEO).</p>"
    ) in page
    assert "Stranger" not in page


def test_an_older_dpa_on_file_names_the_current_version(login, owner, site):
    SignedDPAFactory(
        account=site.account, dpa_version="2025-01", signer_name="Old", signer_title=""
    )

    page = login(owner).get(url(site)).content.decode()

    assert f"signed 2026-01-15 by Old. The current version is {DPA_VERSION}.</p>" in page


def test_no_dpa_on_file_says_so(login, owner, site):
    page = login(owner).get(url(site)).content.decode()

    assert (
        'id="dpa-on-file">The <a href="/legal/dpa/">Data Processing Agreement</a> is accepted by'
        " an owner when enabling User Attributes; those confirmations are Radbooks's record."
    ) in page


def test_the_rejections_show_the_most_rejected_keys_first_and_count_the_rest(login, owner, site):
    for i in range(30):
        AttributeRejectionFactory(
            site=site, key=f"bad key {i:02}", reason="invalid_key", count=i + 1
        )

    page = login(owner).get(url(site)).content.decode()

    row = page[page.index('data-reason="invalid_key"') :].split("</tr>")[0]
    assert row.index("bad key 29") < row.index("bad key 28")  # most rejected first
    assert "bad key 10" in row
    assert "bad key 09" not in row
    assert "and 10 more" in row
    assert "<td>465</td>" in row  # 1 + 2 + … + 30


class TestRemoveKey:
    def test_a_key_is_removed_with_its_values_after_a_question(self, login, owner, site):
        for n in range(3):
            visitor_identify(
                site=site,
                visitor_id=f"visitor{n}".ljust(32, "0"),
                user_id=f"u{n}",
                attributes={"junk": n, "plan": "gold"},
            )
        targeted = {
            "match": "all",
            "conditions": [{"type": "number", "key": "junk", "op": "gt", "value": 0}],
        }
        WidgetFactory(site=site, name="Junk poll", targeting=targeted)
        client = login(owner)
        remove = url(site, "keys/junk/delete")

        page = client.get(url(site)).content.decode()
        dialog = client.get(remove, HTTP_HX_REQUEST="true").content.decode()
        assert f'hx-get="{remove}"' in page
        assert dialog.startswith("<dialog")
        assert "for 3 profiles" in dialog
        assert "<strong>Junk poll</strong>" in dialog
        assert AttributeValue.objects.filter(site=site, key="junk").count() == 3  # only asked

        done = client.post(remove, follow=True).content.decode()

        assert "“junk” is removed from" in done
        assert "with its 3 stored values" in done
        assert not AttributeKey.objects.filter(site=site, key="junk").exists()
        assert not AttributeValue.objects.filter(site=site, key="junk").exists()
        assert AttributeValue.objects.filter(site=site, key="plan").count() == 3

    def test_a_filled_catalogue_makes_room_again(self, login, owner, site):
        # Someone filled the site's 100 places with keys from an anonymous device.
        junk = {f"junk{i:03}": 1 for i in range(MAX_KEYS_PER_SITE)}
        visitor_identify(site=site, visitor_id=VISITOR, user_id=None, attributes=junk)
        refused = visitor_identify(
            site=site, visitor_id=VISITOR, user_id="ABC", attributes={"plan": "pro"}
        )
        assert refused["rejected"] == {"plan": "site_key_limit_reached"}

        login(owner).post(url(site, "keys/junk000/delete"))

        stored = visitor_identify(
            site=site, visitor_id=VISITOR, user_id="ABC", attributes={"plan": "pro"}
        )
        assert stored["stored"] == ["plan"]

    def test_members_cannot_remove_keys_and_unknown_keys_are_404(self, login, owner, member, site):
        visitor_identify(site=site, visitor_id=VISITOR, user_id="u1", attributes={"plan": "gold"})

        assert login(member).post(url(site, "keys/plan/delete")).status_code == 403
        assert login(owner).get(url(site, "keys/nope/delete")).status_code == 404
        # No key can hold these: not found either, never a database error
        for text in ["a%00b", "pl%C3%A4n", "x" * 51]:
            assert login(owner).get(url(site, f"keys/{text}/delete")).status_code == 404, text
            assert login(owner).post(url(site, f"keys/{text}/delete")).status_code == 404, text
        assert AttributeKey.objects.filter(site=site, key="plan").exists()
        assert 'id="catalogue"' in login(member).get(url(site)).content.decode()
        assert "Remove…" not in login(member).get(url(site)).content.decode()
