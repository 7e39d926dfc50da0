"""Private API: GET / DELETE /api/v1/sites/{site_key}/lookup with a personal token."""

import hashlib
from datetime import timedelta

import pytest
from django.apps import apps

from apps.accounts.models import Membership
from apps.accounts.selectors import api_token_authenticate
from apps.accounts.services import api_token_create, api_token_revoke
from apps.feedback_targeting.models import Response
from apps.feedback_targeting.services import (
    ResponseInput,
    response_submit,
    widget_activate,
    widget_save,
)
from apps.identity.models import PrivacyAudit, Profile, Session, Visitor
from apps.identity.selectors import LOOKUP_ROWS_PER_KIND, privacy_audit_matches
from apps.identity.services import session_record, visitor_identify
from apps.user_attributes.models import AttributeKey, AttributeValue
from tests.clock import clear_of_minute_end
from tests.factories import MembershipFactory, sessions_of
from tests.identity.conftest import FAMILY_PC

TABLET = "tablet123tablet123tablet123aaaaa"
MOBILE = "mobile456mobile456mobile456bbbbb"
OTHER = "other000other000other000other000"


@pytest.fixture
def token(account, owner):
    return api_token_create(account=account, user=owner, name="privacy")[1]


@pytest.fixture
def rachel(site):
    """Rachel on two devices with three sessions, and an unrelated person beside her."""
    session_record(
        site=site, visitor_id=TABLET, session_key="session-A-000000001", url="https://s/a"
    )
    session_record(
        site=site, visitor_id=MOBILE, session_key="session-B-000000001", url="https://s/b"
    )
    visitor_identify(
        site=site,
        visitor_id=MOBILE,
        user_id="ABC",
        attributes={"email": "Rachel@Example.com", "total_spend": 500},
    )
    visitor_identify(site=site, visitor_id=TABLET, user_id="ABC", attributes={"plan": "gold"})
    session_record(
        site=site, visitor_id=OTHER, session_key="session-X-000000001", url="https://s/x"
    )
    visitor_identify(site=site, visitor_id=OTHER, user_id="XYZ", attributes={"plan": "free"})
    return Profile.objects.get(site=site, user_id="ABC")


def feedback_tab(site):
    """An active Incoming Feedback widget shown to everyone."""
    return widget_activate(
        widget=widget_save(site=site, kind="feedback", name="Tab", targeting={}, questions=[])
    )


def lookup(api_client, site, token, method="get", **params):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return getattr(api_client, method)(f"/api/v1/sites/{site.key}/lookup?{query}")


def tenant_row_counts() -> dict[str, int]:
    """Rows of every table of the identity and attribute apps."""
    return {
        model.__name__: model.objects.count()
        for app in ("identity", "user_attributes", "feedback_targeting")
        for model in apps.get_app_config(app).get_models()
    }


def test_lookup_by_user_id_shows_everything(api_client, site, token, rachel):
    response = lookup(api_client, site, token, user_id="ABC")

    assert response.status_code == 200
    [person] = response.json()["profiles"]
    assert person["user_id"] == "ABC"
    assert [(a["key"], a["type"], a["value"]) for a in person["attributes"]] == [
        ("email", "string", "rachel@example.com"),
        ("plan", "string", "gold"),
        ("total_spend", "number", 500.0),
    ]
    assert sorted(v["visitor_id"] for v in person["visitors"]) == [MOBILE, TABLET]
    assert sorted(s["session_id"] for s in person["sessions"]) == [
        "session-A-000000001",
        "session-B-000000001",
    ]


def test_a_device_shared_with_another_user_keeps_that_users_answers(api_client, site, token):
    """A device that answered as A (with no page visit recorded: a back-end identify, or a
    visit the network lost) and is then identified as B keeps A's answer when B goes."""
    feedback = feedback_tab(site)
    visitor_identify(site=site, visitor_id=TABLET, user_id="A", attributes={})
    response_submit(
        site=site,
        widget_id=feedback.pk,
        visitor_id=TABLET,
        data=ResponseInput(answers={}, emotion=5, comment="from A"),
    )
    visitor_identify(site=site, visitor_id=TABLET, user_id="B", attributes={})

    receipt = lookup(api_client, site, token, method="delete", user_id="B").json()

    a = Profile.objects.get(site=site, user_id="A")
    assert list(Response.objects.filter(profile=a).values_list("comment", flat=True)) == ["from A"]
    assert Visitor.objects.get(site=site, visitor_id=TABLET).profile is None
    assert (receipt["deleted"]["visitors"], receipt["deleted"]["responses"]) == (0, 0)


def test_lookup_shows_feedback_responses_and_finds_consent_emails(api_client, site, token):
    feedback = feedback_tab(site)
    response_submit(
        site=site,
        widget_id=feedback.pk,
        visitor_id=OTHER,
        data=ResponseInput(
            answers={},
            emotion=5,
            comment="Lovely",
            email="Anon@Example.com",
            consent_to_connect=True,
        ),
    )

    found = lookup(api_client, site, token, email="anon@example.com").json()["profiles"]

    assert [p["user_id"] for p in found] == [None]
    assert [
        (r["widget_name"], r["emotion"], r["comment"], r["email"]) for r in found[0]["responses"]
    ] == [("Tab", 5, "Lovely", "anon@example.com")]


def test_lookup_by_email_is_case_insensitive(api_client, site, token, rachel):
    response = lookup(api_client, site, token, email="RACHEL@example.COM")

    assert [p["user_id"] for p in response.json()["profiles"]] == ["ABC"]


def test_lookup_by_both_finds_each_persons_profiles(api_client, site, token, rachel):
    response = lookup(api_client, site, token, user_id="XYZ", email="rachel@example.com")

    assert [p["user_id"] for p in response.json()["profiles"]] == ["ABC", "XYZ"]


def test_a_user_id_sent_with_spaces_around_it_is_found_and_deleted(api_client, site, token):
    sent = api_client.post(
        f"/api/v1/sites/{site.key}/identify",
        {"visitor_id": TABLET, "user_id": " 931493 ", "attributes": {"plan": "gold"}},
        format="json",
    )
    assert (sent.status_code, sent.json()["user_id"]) == (200, "931493")
    visitor_identify(site=site, visitor_id=MOBILE, user_id="931493", attributes={})

    found = lookup(api_client, site, token, user_id="931493%20")
    [person] = found.json()["profiles"]
    assert (person["user_id"], len(person["visitors"])) == ("931493", 2)
    deleted = lookup(api_client, site, token, method="delete", user_id="931493")
    assert deleted.json()["deleted"]["profiles"] == 1
    assert not Profile.objects.filter(site=site).exists()


def test_lookup_without_terms_is_a_400(api_client, site, token):
    response = lookup(api_client, site, token)
    assert response.status_code == 400
    assert response.json()["code"] == "lookup_terms_required"


@pytest.mark.parametrize("method", ["get", "delete"])
@pytest.mark.parametrize(
    "query", ["user_id=ABC&user_id=XYZ", "email=a%40example.com&email=rachel%40example.com"]
)
def test_a_term_given_twice_is_refused_and_nothing_is_deleted(
    api_client, site, token, rachel, method, query
):
    """A query dictionary keeps the last value: a deletion answered as done would have
    left the first person."""
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    before = tenant_row_counts()

    response = getattr(api_client, method)(f"/api/v1/sites/{site.key}/lookup?{query}")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_lookup_terms"
    assert "at most once" in response.json()["message"]
    assert tenant_row_counts() == before
    assert not PrivacyAudit.objects.exists()


def test_lookup_is_audited_without_personal_data(api_client, site, token, owner, rachel):
    lookup(api_client, site, token, user_id="ABC", email="rachel@example.com")

    audit = PrivacyAudit.objects.get()
    assert (audit.action, audit.channel, audit.requested_by, audit.profiles_found) == (
        "lookup",
        "api",
        owner,
        1,
    )
    assert (audit.searched_user_id, audit.searched_email) == (True, True)
    assert (audit.account_id, audit.site_id, audit.site_name) == (
        site.account_id,
        site.pk,
        site.name,
    )
    assert audit.requested_by_email == owner.email
    assert audit.deleted_counts == {}
    assert audit.created_at is not None
    assert len(audit.terms_salt) == 32
    assert privacy_audit_matches(audit=audit, user_id=" ABC", email="Rachel@Example.com")
    assert not privacy_audit_matches(audit=audit, user_id="ABD", email="rachel@example.com")
    # The record alone does not let anyone test guesses: its salt and a plain hash
    # would give a short user id back in seconds.
    plain = f"{audit.terms_salt}\x1fABC\x1frachel@example.com".encode()
    assert audit.terms_hash != hashlib.sha256(plain).hexdigest()
    stored = str(
        {f.name: getattr(audit, f.name) for f in audit._meta.fields if f.name != "requested_by"}
    )
    assert "ABC" not in stored
    assert "rachel" not in stored


def test_delete_removes_every_row_of_the_person_and_nothing_else(api_client, site, token, rachel):
    before = tenant_row_counts()

    response = lookup(
        api_client, site, token, method="delete", user_id="ABC", email="rachel@example.com"
    )

    assert response.status_code == 200
    assert response.json()["deleted"] == {
        "profiles": 1,
        "attribute_values": 3,
        "visitors": 2,
        "sessions": 2,
        "responses": 0,
    }
    after = tenant_row_counts()
    assert after == before | {
        "Profile": before["Profile"] - 1,
        "AttributeValue": before["AttributeValue"] - 3,
        "Visitor": before["Visitor"] - 2,
        "Session": before["Session"] - 2,
        "PrivacyAudit": before["PrivacyAudit"] + 1,
    }
    # The other person is untouched; Rachel is gone from every table.
    assert not Profile.objects.filter(user_id="ABC").exists()
    assert not Visitor.objects.filter(visitor_id__in=[TABLET, MOBILE]).exists()
    assert not AttributeValue.objects.filter(string_value="rachel@example.com").exists()
    assert list(Session.objects.values_list("session_key", flat=True)) == ["session-X-000000001"]
    catalogue = dict(AttributeKey.objects.filter(site=site).values_list("key", "profile_count"))
    assert catalogue == {"email": 0, "plan": 1, "total_spend": 0}
    assert lookup(api_client, site, token, user_id="ABC").json()["profiles"] == []
    audit = PrivacyAudit.objects.get(action="delete")
    assert response.json()["audit_id"] == audit.pk
    assert audit.deleted_counts == response.json()["deleted"]
    assert privacy_audit_matches(audit=audit, user_id="ABC", email="rachel@example.com")


def test_a_record_still_matches_its_person_after_the_secret_key_is_rotated(
    api_client, site, token, rachel, settings
):
    lookup(api_client, site, token, method="delete", user_id="ABC")
    audit = PrivacyAudit.objects.get(action="delete")
    old = settings.SECRET_KEY

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "n" * 50, [old]
    assert privacy_audit_matches(audit=audit, user_id="ABC", email=None)
    settings.SECRET_KEY_FALLBACKS = []  # the old key retired: nothing can be shown any more
    assert not privacy_audit_matches(audit=audit, user_id="ABC", email=None)


def test_identify_after_deletion_starts_a_new_profile(api_client, site, token, rachel):
    lookup(api_client, site, token, method="delete", user_id="ABC")

    visitor_identify(site=site, visitor_id=MOBILE, user_id="ABC", attributes={"plan": "new"})

    profile = Profile.objects.get(site=site, user_id="ABC")
    assert profile.pk != rachel.pk
    assert {a.key: a.value for a in profile.attributes.all()} == {"plan": "new"}
    assert profile.sessions.count() == 0


def test_a_device_shared_with_another_user_keeps_that_users_history(api_client, site, token):
    session_record(
        site=site, visitor_id=TABLET, session_key="session-1-000000001", url="https://s/"
    )
    visitor_identify(site=site, visitor_id=TABLET, user_id="A", attributes={"plan": "a"})
    visitor_identify(site=site, visitor_id=TABLET, user_id="B", attributes={"plan": "b"})

    lookup(api_client, site, token, method="delete", user_id="B")

    a = Profile.objects.get(site=site, user_id="A")
    assert list(a.sessions.values_list("landing_url", flat=True)) == ["https://s/"]
    assert Visitor.objects.get(site=site, visitor_id=TABLET).profile is None


@pytest.mark.parametrize("order", [("A", "B"), ("B", "A")])
def test_a_device_both_people_used_goes_once_both_are_deleted(api_client, site, token, order):
    """Identified as A, then as B: deleting B detaches it, keeping A's visits; deleting
    A too takes it, whichever went first."""
    session_record(
        site=site, visitor_id=TABLET, session_key="session-1-000000001", url="https://s/"
    )
    visitor_identify(site=site, visitor_id=TABLET, user_id="A", attributes={"plan": "a"})
    session_record(
        site=site, visitor_id=TABLET, session_key="session-2-000000001", url="https://s/2"
    )
    visitor_identify(site=site, visitor_id=TABLET, user_id="B", attributes={"plan": "b"})
    session_record(
        site=site, visitor_id=TABLET, session_key="session-3-000000001", url="https://s/3"
    )

    receipts = [
        lookup(api_client, site, token, method="delete", user_id=person).json()["deleted"]
        for person in order
    ]

    assert sum(receipt["visitors"] for receipt in receipts) == 1
    assert sum(receipt["sessions"] for receipt in receipts) == 3
    for model in (Visitor, Session, Profile, AttributeValue):
        assert not model.objects.filter(site=site).exists(), model


class TestTokens:
    @pytest.mark.parametrize("scheme", ["bearer", "BEARER"])
    def test_the_scheme_is_case_insensitive(self, api_client, site, token, rachel, scheme):
        api_client.credentials(HTTP_AUTHORIZATION=f"{scheme} {token}")

        response = api_client.get(f"/api/v1/sites/{site.key}/lookup?user_id=ABC")

        assert response.status_code == 200
        assert [p["user_id"] for p in response.json()["profiles"]] == ["ABC"]

    def test_missing_token_is_401(self, api_client, site):
        response = api_client.get(f"/api/v1/sites/{site.key}/lookup?user_id=ABC")
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"

    def test_revoked_token_is_401(self, api_client, site, account, owner):
        token, raw = api_token_create(account=account, user=owner, name="old")
        api_token_revoke(token=token)

        response = lookup(api_client, site, raw, user_id="ABC")

        assert response.status_code == 401
        assert response.json()["code"] == "authentication_failed"

    def test_token_of_a_former_member_is_401(self, api_client, site, account, member):
        _, raw = api_token_create(account=account, user=member, name="x")
        Membership.objects.filter(account=account, user=member).delete()

        assert lookup(api_client, site, raw, user_id="ABC").status_code == 401

    def test_another_accounts_site_is_404_and_nothing_is_deleted(
        self, api_client, token, other_site
    ):
        visitor_identify(site=other_site, visitor_id=TABLET, user_id="ABC", attributes={"a": 1})

        get = lookup(api_client, other_site, token, user_id="ABC")
        delete = lookup(api_client, other_site, token, method="delete", user_id="ABC")

        assert (get.status_code, delete.status_code) == (404, 404)
        assert get.json()["code"] == "unknown_site"
        assert "ABC" not in get.content.decode()
        assert Profile.objects.filter(site=other_site, user_id="ABC").exists()
        assert not PrivacyAudit.objects.exists()

    def test_a_member_may_look_up_but_not_delete(self, api_client, site, account, rachel):
        member = MembershipFactory(account=account, role=Membership.Role.MEMBER).user
        _, raw = api_token_create(account=account, user=member, name="m")

        assert lookup(api_client, site, raw, user_id="ABC").status_code == 200
        response = lookup(api_client, site, raw, method="delete", user_id="ABC")

        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
        assert Profile.objects.filter(site=site, user_id="ABC").exists()

    def test_token_of_a_deactivated_user_is_401(self, api_client, site, account, owner, rachel):
        _, raw = api_token_create(account=account, user=owner, name="x")
        owner.is_active = False
        owner.save(update_fields=["is_active"])

        response = lookup(api_client, site, raw, user_id="ABC")

        assert response.status_code == 401
        assert response.json()["code"] == "authentication_failed"
        assert not PrivacyAudit.objects.exists()

    def test_membership_of_another_account_does_not_keep_a_token_alive(
        self, api_client, site, account, other_account, member, rachel
    ):
        _, raw = api_token_create(account=account, user=member, name="x")
        MembershipFactory(account=other_account, user=member, role=Membership.Role.OWNER)
        Membership.objects.filter(account=account, user=member).delete()

        assert lookup(api_client, site, raw, user_id="ABC").status_code == 401
        assert not PrivacyAudit.objects.exists()

    def test_the_role_is_the_one_in_the_tokens_account(
        self, api_client, site, account, other_account, member, rachel
    ):
        # An owner elsewhere is still only a member here.
        MembershipFactory(account=other_account, user=member, role=Membership.Role.OWNER)
        _, raw = api_token_create(account=account, user=member, name="x")

        response = lookup(api_client, site, raw, method="delete", user_id="ABC")

        assert response.status_code == 403
        assert Profile.objects.filter(site=site, user_id="ABC").exists()

    def test_each_token_is_rate_limited(self, api_client, site, account, owner, settings):
        settings.COHORT_THROTTLE_PER_TOKEN = "2/min"
        clear_of_minute_end()
        first = api_token_create(account=account, user=owner, name="a")[1]
        second = api_token_create(account=account, user=owner, name="b")[1]

        statuses = [lookup(api_client, site, first, user_id="x").status_code for _ in range(3)]
        refused = lookup(api_client, site, first, user_id="x")

        assert statuses == [200, 200, 429]
        assert refused.json()["code"] == "throttled"
        assert int(refused["Retry-After"]) >= 1
        assert lookup(api_client, site, second, user_id="x").status_code == 200

    def test_bad_tokens_are_rate_limited_per_client_and_good_ones_are_not_counted(
        self, api_client, site, account, owner, settings
    ):
        """A token that is not good is read from the database each time: a client
        sending them is refused before that, past its limit; calls with a good token do
        not use that limit up."""
        settings.COHORT_THROTTLE_PER_CLIENT = "3/min"
        good = api_token_create(account=account, user=owner, name="a")[1]

        with_good = [lookup(api_client, site, good, user_id="x").status_code for _ in range(5)]
        guesses = [
            lookup(api_client, site, f"ck_guess{i}", user_id="x").status_code for i in range(5)
        ]

        assert with_good == [200] * 5
        assert guesses == [401, 401, 401, 429, 429]
        # past the limit, the address is refused before any token is read: good ones too
        assert lookup(api_client, site, good, user_id="x").status_code == 429
        api_client.defaults["REMOTE_ADDR"] = "198.51.100.9"  # another client
        assert lookup(api_client, site, "ck_guess9", user_id="x").status_code == 401

    def test_use_is_noted_at_most_once_a_minute(self, api_client, site, account, owner):
        token, raw = api_token_create(account=account, user=owner, name="x")

        lookup(api_client, site, raw, user_id="ABC")
        token.refresh_from_db()
        first = token.last_used_at
        lookup(api_client, site, raw, user_id="ABC")
        token.refresh_from_db()

        assert first is not None
        assert token.last_used_at == first

    def test_a_bad_token_is_401_whatever_the_site(self, api_client, site, other_site):
        for key in (site.key, other_site.key, "no-such-site"):
            api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
            response = api_client.get(f"/api/v1/sites/{key}/lookup?user_id=ABC")

            assert (response.status_code, response.json()["code"]) == (
                401,
                "authentication_failed",
            )

    def test_the_token_reads_only_its_own_accounts_site(self, account, owner, site, other_site):
        _, raw = api_token_create(account=account, user=owner, name="x")

        own = api_token_authenticate(raw=raw, site_key=site.key)
        other = api_token_authenticate(raw=raw, site_key=other_site.key)
        none = api_token_authenticate(raw=raw)

        assert (own.site, own.site.account, own.membership.account) == (site, account, account)
        assert (other.site, none.site) == (None, None)
        assert other.membership.user == owner


def test_the_api_lists_the_newest_sessions_and_counts_them_all(api_client, site, token, rachel):
    visitor = Visitor.objects.get(site=site, visitor_id=MOBILE)
    sessions_of(visitor, LOOKUP_ROWS_PER_KIND, start=rachel.created_at + timedelta(minutes=1))

    # Rachel's profile and another person's, found together (user id and email): each
    # profile lists its own newest sessions, the flood of one does not hide the other's.
    found = lookup(api_client, site, token, user_id="XYZ", email="rachel@example.com").json()
    person, other = found["profiles"]

    assert [s["session_id"] for s in other["sessions"]] == ["session-X-000000001"]
    assert len(person["sessions"]) == LOOKUP_ROWS_PER_KIND
    assert person["sessions"][0]["session_id"] == f"flood-{LOOKUP_ROWS_PER_KIND - 1:012d}"
    assert (person["sessions_total"], person["visitors_total"], person["responses_total"]) == (
        LOOKUP_ROWS_PER_KIND + 2,  # with Rachel's own two
        2,
        0,
    )


@pytest.mark.parametrize(
    ("user_id", "asked"),
    [
        ("mary@example.com", "Mary@Example.com"),
        ("Mary@Example.com", "Mary@Example.com"),
        ("Mary@Example.com", "mary@example.com"),
        ("MARY@example.com", "Mary@EXAMPLE.com"),
        ("Mary@Müller.de", "mary@xn--mller-kva.de"),
    ],
)
def test_an_email_finds_the_person_whose_user_id_is_that_address(
    api_client, site, token, user_id, asked
):
    """Sites that use their customers' addresses as user ids: a request that arrives by
    email finds (and deletes) that profile, whichever case the site stored and the
    request gives."""
    visitor_identify(site=site, visitor_id=TABLET, user_id=user_id, attributes={"plan": "a"})
    visitor_identify(site=site, visitor_id=MOBILE, user_id="mary", attributes={"plan": "b"})

    found = lookup(api_client, site, token, email=asked).json()["profiles"]
    receipt = lookup(api_client, site, token, method="delete", email=asked).json()

    assert [p["user_id"] for p in found] == [user_id]
    assert receipt["deleted"]["profiles"] == 1
    assert list(Profile.objects.filter(site=site).values_list("user_id", flat=True)) == ["mary"]


@pytest.mark.parametrize(
    ("stored", "asked"),
    [("info@xn--mller-kva.de", "info@müller.de"), ("info@müller.de", "INFO@xn--MLLER-kva.de")],
)
def test_an_email_matches_either_spelling_of_an_international_domain(
    api_client, site, token, stored, asked
):
    visitor_identify(site=site, visitor_id=TABLET, user_id="u1", attributes={"email": stored})

    receipt = lookup(api_client, site, token, method="delete", email=asked).json()

    assert receipt["deleted"]["profiles"] == 1
    assert not AttributeValue.objects.filter(site=site).exists()


@pytest.mark.usefixtures("family_pc")
def test_an_email_given_on_someone_elses_device_finds_the_answers_not_their_profile(
    api_client, site, token
):
    """Rachel's request for her data must not hand her XYZ's attributes, devices and
    sessions: her answer is hers, the profile it was given on is not."""

    found = lookup(api_client, site, token, email="rachel@example.com").json()

    assert found["profiles"] == []
    assert [(r["comment"], r["email"]) for r in found["email_responses"]] == [
        ("from Rachel", "rachel@example.com")
    ]
    assert found["email_responses_total"] == 1
    # looked up by his own user id, XYZ has both answers given on his device
    [xyz] = lookup(api_client, site, token, user_id="XYZ").json()["profiles"]
    assert sorted(r["comment"] for r in xyz["responses"]) == ["from Rachel", "from XYZ"]
    # by both, Rachel's answer is XYZ's profile's, listed there once
    both = lookup(api_client, site, token, user_id="XYZ", email="rachel@example.com").json()
    assert ([p["user_id"] for p in both["profiles"]], both["email_responses"]) == (["XYZ"], [])


@pytest.mark.usefixtures("family_pc")
def test_deleting_by_an_email_given_on_someone_elses_device_deletes_only_those_answers(
    api_client, site, token
):
    receipt = lookup(api_client, site, token, method="delete", email="rachel@example.com").json()

    assert receipt["deleted"] == {
        "profiles": 0,
        "attribute_values": 0,
        "visitors": 0,
        "sessions": 0,
        "responses": 1,
    }
    xyz = Profile.objects.get(site=site, user_id="XYZ")
    assert list(Response.objects.filter(site=site).values_list("comment", flat=True)) == [
        "from XYZ"
    ]
    assert AttributeValue.objects.filter(profile=xyz).count() == 2
    assert Visitor.objects.get(site=site, visitor_id=FAMILY_PC).profile == xyz
    assert Session.objects.filter(site=site, profile=xyz).count() == 1
