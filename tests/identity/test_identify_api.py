"""POST /api/v1/sites/{site_key}/identify through HTTP: storage, stitching, refusals."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from apps.accounts.models import Account
from apps.identity.models import ProcessedMessage, Profile, Session, Visitor
from apps.user_attributes.models import AttributeKey, AttributeRejection, AttributeValue
from tests.clock import clear_of_minute_end
from tests.factories import AccountFactory, SiteFactory

TABLET = "tablet123tablet123tablet123aaaaa"
MOBILE = "mobile456mobile456mobile456bbbbb"
LAPTOP = "laptop789laptop789laptop789ccccc"


def identify(client, site, visitor_id, user_id, attributes=None, **extra):
    body = {"visitor_id": visitor_id, "user_id": user_id, "attributes": attributes or {}}
    body.update(extra)
    return client.post(f"/api/v1/sites/{site.key}/identify", body, format="json")


def visit(client, site, visitor_id, session_id, url="https://shop.example.com/"):
    return client.post(
        f"/api/v1/sites/{site.key}/sessions",
        {"visitor_id": visitor_id, "session_id": session_id, "url": url, "referrer": ""},
        format="json",
    )


def values_of(site, user_id):
    profile = Profile.objects.get(site=site, user_id=user_id)
    return {a.key: (a.value_type, a.value) for a in profile.attributes.all()}


def row_counts():
    return {
        model.__name__: model.objects.count()
        for model in (Profile, Visitor, Session, AttributeValue, AttributeKey, AttributeRejection)
    } | {"ProcessedMessage": ProcessedMessage.objects.count()}


class TestSeedExamples:
    def test_paying_customer_total_spend_and_first_purchase_are_stored_typed(
        self, api_client, site
    ):
        response = identify(
            api_client,
            site,
            TABLET,
            "931493",
            {"total_spend": 500, "first_purchase": "2019-06-20Z"},
        )

        assert response.status_code == 200
        assert response.json() == {
            "visitor_id": TABLET,
            "user_id": "931493",
            "stored": ["first_purchase", "total_spend"],
            "rejected": {},
        }
        assert values_of(site, "931493") == {
            "total_spend": ("number", 500.0),
            "first_purchase": ("date", datetime(2019, 6, 20, tzinfo=UTC)),
        }

    def test_anonymous_attributes_are_stored_against_the_visitor(self, api_client, site):
        response = identify(
            api_client, site, TABLET, None, {"ab_test": "variant-A", "referrer": "facebook_paid"}
        )

        assert response.status_code == 200
        assert response.json()["stored"] == ["ab_test", "referrer"]
        visitor = Visitor.objects.get(site=site, visitor_id=TABLET)
        assert visitor.profile.user_id is None
        assert {a.key: a.string_value for a in visitor.profile.attributes.all()} == {
            "ab_test": "variant-A",
            "referrer": "facebook_paid",
        }

    def test_email_rules(self, api_client, site):
        response = identify(
            api_client,
            site,
            TABLET,
            "931493",
            {"email": "test@test.com", "contact": "test@test.com", "plan": "gold"},
        )

        assert response.json()["stored"] == ["email", "plan"]
        assert response.json()["rejected"] == {"contact": "email_outside_email_key"}
        assert values_of(site, "931493") == {
            "email": ("string", "test@test.com"),
            "plan": ("string", "gold"),
        }

    def test_email_without_user_id_is_refused_and_the_rest_stored(self, api_client, site):
        response = identify(api_client, site, TABLET, None, {"email": "a@b.co", "ab_test": "A"})

        assert response.status_code == 200
        assert response.json()["rejected"] == {"email": "pii_without_user_id"}
        assert response.json()["stored"] == ["ab_test"]
        assert not AttributeValue.objects.filter(key="email").exists()
        assert AttributeRejection.objects.get(key="email").reason == "pii_without_user_id"

    def test_a_key_holding_an_email_address_is_listed_without_it(self, api_client, site):
        keys = {"rachel@example.com": True, "pref_josé@müller.de_x": 1, "a" * 60 + "@b.co": 2}

        response = identify(api_client, site, TABLET, "931493", keys)

        assert response.json()["rejected"] == {
            "rachel@example.com": "invalid_key",
            "pref_josé@müller.de_x": "invalid_key",
            "a" * 60 + "@b.co": "key_too_long",
        }
        listed = AttributeRejection.objects.filter(site=site).values_list("key", "reason")
        assert sorted(listed) == [
            ("<email>", "invalid_key"),
            ("<email>", "key_too_long"),
            ("<email>_x", "invalid_key"),
        ]

    def test_a_huge_rejected_key_is_kept_short_and_without_its_address(self, api_client, site):
        key = "rachel@example.com_" + "x" * 100_000

        response = identify(api_client, site, TABLET, "931493", {key: 1}, message_id="k" * 32)

        assert response.json()["rejected"] == {key: "key_too_long"}
        [(kept, reason)] = AttributeRejection.objects.values_list("key", "reason")
        assert (kept, reason) == ("<email>_" + "x" * 42, "key_too_long")
        # The answer kept for retries holds it as the settings page does.
        stored = ProcessedMessage.objects.get(site=site).response
        assert stored["rejected"] == {"<email>_" + "x" * 42: "key_too_long"}

    def test_keys_past_the_100th_count_under_one_row(self, api_client, site):
        attributes = {f"k{i:04}": i for i in range(2_000)}

        response = identify(api_client, site, TABLET, "931493", attributes)

        assert len(response.json()["rejected"]) == 1_900  # the answer names every one
        assert list(AttributeRejection.objects.values_list("key", "reason", "count")) == [
            ("(attributes past the 100th)", "too_many_attributes", 1_900)
        ]

    def test_a_site_lists_at_most_1000_rejected_keys_a_day(self, api_client, site):
        for batch in range(10):
            bad = {f"{batch}-{i:03} key!": 1 for i in range(100)}  # invalid keys
            identify(api_client, site, TABLET, "931493", bad)
        identify(api_client, site, TABLET, "931493", {"one more!": 1, "and another!": 2})

        listed = AttributeRejection.objects.filter(site=site)
        assert listed.count() == 1_001
        assert listed.get(key="(other keys)").count == 2

    def test_an_address_too_long_for_email_is_refused(self, api_client, site):
        address = "a" * 243 + "@example.com"  # 255 characters

        response = identify(api_client, site, TABLET, "931493", {"email": address})

        assert response.json()["rejected"] == {"email": "invalid_email"}


class TestLatestWins:
    def test_each_call_replaces_the_keys_it_sends_and_keeps_the_others(self, api_client, site):
        identify(api_client, site, TABLET, "u1", {"total_spend": 500, "plan": "gold"})
        identify(api_client, site, TABLET, "u1", {"total_spend": 750})

        assert values_of(site, "u1") == {
            "total_spend": ("number", 750.0),
            "plan": ("string", "gold"),
        }

    def test_a_key_sent_with_another_type_replaces_the_value_and_the_catalogue_shows_it(
        self, api_client, site
    ):
        identify(api_client, site, TABLET, "u1", {"plan": "gold"})
        identify(api_client, site, TABLET, "u1", {"plan": 3})

        assert values_of(site, "u1") == {"plan": ("number", 3.0)}
        entry = AttributeKey.objects.get(site=site, key="plan")
        assert entry.value_type == "number"
        assert entry.types_seen == ["number", "string"]
        assert entry.has_type_conflict
        assert entry.profile_count == 1

    def test_catalogue_counts_profiles_per_key(self, api_client, site):
        identify(api_client, site, TABLET, "u1", {"plan": "gold", "total_spend": 1})
        identify(api_client, site, MOBILE, "u2", {"plan": "free"})
        identify(api_client, site, MOBILE, "u2", {"plan": "gold"})

        catalogue = {
            k.key: (k.value_type, k.profile_count) for k in AttributeKey.objects.filter(site=site)
        }
        assert catalogue == {"plan": ("string", 2), "total_spend": ("number", 1)}


class TestStitching:
    def test_rachel_two_devices_three_sessions_one_profile(self, api_client, site):
        # Session A: tablet, anonymous. Session B and C: mobile, anonymous.
        assert visit(api_client, site, TABLET, "session-A-000000001").status_code == 200
        visit(api_client, site, MOBILE, "session-B-000000001")
        visit(api_client, site, MOBILE, "session-C-000000001")
        identify(api_client, site, MOBILE, None, {"referrer": "facebook_paid"})
        # She registers on the mobile: user id ABC.
        identify(api_client, site, MOBILE, "ABC", {"total_spend": 0})

        rachel = Profile.objects.get(site=site, user_id="ABC")
        assert sorted(rachel.sessions.values_list("session_key", flat=True)) == [
            "session-B-000000001",
            "session-C-000000001",
        ]
        # A 4th session on the tablet, where she logs in.
        visit(api_client, site, TABLET, "session-D-000000001")
        identify(api_client, site, TABLET, "ABC", {"total_spend": 25})

        assert Profile.objects.filter(site=site).count() == 1
        assert sorted(rachel.visitors.values_list("visitor_id", flat=True)) == [MOBILE, TABLET]
        assert sorted(rachel.sessions.values_list("session_key", flat=True)) == [
            "session-A-000000001",
            "session-B-000000001",
            "session-C-000000001",
            "session-D-000000001",
        ]
        assert values_of(site, "ABC") == {
            "referrer": ("string", "facebook_paid"),
            "total_spend": ("number", 25.0),
        }
        assert AttributeKey.objects.get(site=site, key="referrer").profile_count == 1

    def test_user_id_never_changes_a_then_b_keeps_a_history_with_a(self, api_client, site):
        visit(api_client, site, TABLET, "session-1-000000001")
        identify(api_client, site, TABLET, "A", {"plan": "gold"})
        first = Session.objects.get(site=site)
        identify(api_client, site, TABLET, "B", {"plan": "free"})
        visit(api_client, site, TABLET, "session-2-000000001")

        a = Profile.objects.get(site=site, user_id="A")
        b = Profile.objects.get(site=site, user_id="B")
        assert values_of(site, "A") == {"plan": ("string", "gold")}
        assert values_of(site, "B") == {"plan": ("string", "free")}
        assert list(a.sessions.values_list("pk", flat=True)) == [first.pk]
        assert list(b.sessions.values_list("session_key", flat=True)) == ["session-2-000000001"]
        assert Visitor.objects.get(site=site, visitor_id=TABLET).profile == b

    def test_after_a_switch_to_b_the_same_session_id_opens_a_session_of_b(self, api_client, site):
        # The script keeps its session id for 30 minutes, across a log-out and a log-in.
        visit(api_client, site, TABLET, "session-1-000000001", url="https://s/a-1")
        identify(api_client, site, TABLET, "A", {"plan": "gold"})
        visit(api_client, site, TABLET, "session-1-000000001", url="https://s/a-2")
        identify(api_client, site, TABLET, "B", {"plan": "free"})
        answer = visit(api_client, site, TABLET, "session-1-000000001", url="https://s/b-1")
        visit(api_client, site, TABLET, "session-1-000000001", url="https://s/b-2")

        assert (answer.status_code, answer.json()["page_count"]) == (200, 1)
        a = Profile.objects.get(site=site, user_id="A")
        b = Profile.objects.get(site=site, user_id="B")
        [a_session] = a.sessions.all()
        [b_session] = b.sessions.all()
        assert (a_session.landing_url, a_session.last_url, a_session.page_count) == (
            "https://s/a-1",
            "https://s/a-2",
            2,
        )
        assert a_session.session_key == f"~{a_session.pk}"
        assert (b_session.session_key, b_session.landing_url, b_session.page_count) == (
            "session-1-000000001",
            "https://s/b-1",
            2,
        )
        # so deleting B deletes every page B saw, and A's history holds none of them.
        assert not Session.objects.filter(profile=a, last_url__startswith="https://s/b").exists()

    def test_merge_keeps_the_most_recent_value_per_key(self, api_client, site):
        earlier = datetime(2026, 1, 1, tzinfo=UTC)
        later = earlier + timedelta(hours=1)
        from apps.identity.services import visitor_identify

        # The identified profile has an old `plan` and a new `ab_test` ...
        visitor_identify(
            site=site, visitor_id=LAPTOP, user_id="ABC", attributes={"plan": "old"}, now=earlier
        )
        # ... the anonymous mobile has a newer `plan` and an older `ab_test`.
        visitor_identify(
            site=site,
            visitor_id=MOBILE,
            user_id=None,
            attributes={"ab_test": "A", "plan": "new"},
            now=later,
        )
        visitor_identify(
            site=site,
            visitor_id=LAPTOP,
            user_id="ABC",
            attributes={"ab_test": "B"},
            now=later + timedelta(hours=1),
        )
        visitor_identify(
            site=site,
            visitor_id=MOBILE,
            user_id="ABC",
            attributes={},
            now=later + timedelta(hours=2),
        )

        assert values_of(site, "ABC") == {"plan": ("string", "new"), "ab_test": ("string", "B")}
        assert Profile.objects.filter(site=site).count() == 1
        counts = dict(AttributeKey.objects.filter(site=site).values_list("key", "profile_count"))
        assert counts == {"plan": 1, "ab_test": 1}

    def test_anonymous_calls_after_login_go_to_the_visitors_profile(self, api_client, site):
        identify(api_client, site, TABLET, "ABC", {"plan": "gold"})
        identify(api_client, site, TABLET, None, {"ab_test": "B"})

        assert values_of(site, "ABC") == {"plan": ("string", "gold"), "ab_test": ("string", "B")}

    def test_same_visitor_id_on_two_sites_is_two_visitors(self, api_client, site, other_site):
        identify(api_client, site, TABLET, "ABC", {"plan": "gold"})
        identify(api_client, other_site, TABLET, "ABC", {"plan": "free"})

        assert values_of(site, "ABC") == {"plan": ("string", "gold")}
        assert values_of(other_site, "ABC") == {"plan": ("string", "free")}
        assert Visitor.objects.filter(visitor_id=TABLET).count() == 2


class TestRefusals:
    def test_disabled_site_is_refused_and_nothing_is_stored(self, api_client, account):
        site = SiteFactory(account=account, user_attributes_enabled=False)
        before = row_counts()

        response = identify(api_client, site, TABLET, "u1", {"plan": "gold"})

        assert response.status_code == 403
        assert response.json()["code"] == "user_attributes_disabled"
        assert row_counts() == before

    @pytest.mark.parametrize(
        ("tier", "version"),
        [("basic", 2), ("plus", 3), ("business", 1), ("scale", 1)],
    )
    def test_ineligible_plan_is_refused_and_nothing_is_stored(self, api_client, db, tier, version):
        site = SiteFactory(account=AccountFactory(tier=tier, billing_version=version))
        before = row_counts()

        response = identify(api_client, site, TABLET, "u1", {"plan": "gold"})

        assert response.status_code == 403
        assert response.json()["code"] == "plan_not_eligible"
        assert row_counts() == before

    @pytest.mark.parametrize("tier", [Account.Tier.BUSINESS, Account.Tier.SCALE])
    @pytest.mark.parametrize("version", [2, 3])
    def test_eligible_plans_are_accepted(self, api_client, db, tier, version):
        site = SiteFactory(account=AccountFactory(tier=tier, billing_version=version))
        assert identify(api_client, site, TABLET, "u1", {"a": 1}).status_code == 200

    def test_unknown_site_is_404(self, api_client, db):
        response = api_client.post(
            "/api/v1/sites/no-such-key/identify", {"visitor_id": TABLET}, format="json"
        )
        assert response.status_code == 404
        assert response.json()["code"] == "unknown_site"


class TestMalformed:
    @pytest.mark.parametrize(
        ("body", "code"),
        [
            ("{not json", "malformed_body"),
            ("[1, 2]", "malformed_body"),
            ('"just a string"', "malformed_body"),
            ('{"visitor_id": "short", "user_id": null}', "invalid_visitor_id"),
            ('{"user_id": null}', "invalid_visitor_id"),
            (f'{{"visitor_id": "{TABLET}", "user_id": 123}}', "invalid_user_id"),
            (f'{{"visitor_id": "{TABLET}", "user_id": "undefined"}}', "invalid_user_id"),
            (f'{{"visitor_id": "{TABLET}", "user_id": "[object Object]"}}', "invalid_user_id"),
            (
                f'{{"visitor_id": "{TABLET}", "user_id": null, "attributes": [1]}}',
                "invalid_attributes",
            ),
            (
                f'{{"visitor_id": "{TABLET}", "user_id": null, "message_id": "x"}}',
                "invalid_message_id",
            ),
        ],
    )
    def test_malformed_bodies_get_400_with_a_code_and_store_nothing(
        self, api_client, site, body, code
    ):
        before = row_counts()

        response = api_client.generic(
            "POST",
            f"/api/v1/sites/{site.key}/identify",
            body,
            content_type="application/json",
        )

        assert response.status_code == 400
        assert response.json()["code"] == code
        assert response.json()["message"]
        assert row_counts() == before

    @pytest.mark.parametrize(
        ("literal", "reason"),
        [
            ("NaN", "invalid_number"),
            # Longer than Python converts (4,300 digits), of either sign
            ("9" * 5000, "number_out_of_range"),
            ("-" + "9" * 5000, "number_out_of_range"),
            # A finite JSON number beyond a double: far out of range, not Infinity
            ("1e400", "number_out_of_range"),
            ("-1.5e999", "number_out_of_range"),
        ],
        ids=["nan", "long", "long-negative", "exponent", "exponent-negative"],
    )
    def test_a_number_json_cannot_hold_is_rejected_per_attribute(
        self, api_client, site, literal, reason
    ):
        response = api_client.generic(
            "POST",
            f"/api/v1/sites/{site.key}/identify",
            f'{{"visitor_id": "{TABLET}", "user_id": "u1", '
            f'"attributes": {{"x": {literal}, "y": 2}}}}',
            content_type="application/json",
        )
        assert response.status_code == 200
        assert response.json()["rejected"] == {"x": reason}
        assert values_of(site, "u1") == {"y": ("number", 2.0)}

    @pytest.mark.parametrize(
        "literal",
        ['"x\\u0000y"', '"Great book \\ud83d"', '"\\ude00"', '["\\u0000"]', '{"\\ud800": 1}'],
        ids=["nul", "lone-high-surrogate", "lone-low-surrogate", "in-a-list", "in-a-key-inside"],
    )
    def test_a_value_with_text_no_database_stores_is_rejected_per_attribute(
        self, api_client, site, literal
    ):
        # Given a call whose "fav" holds a NUL or half of an emoji (JavaScript's slice cut it)
        body = (
            f'{{"visitor_id": "{TABLET}", "user_id": "u1", '
            f'"attributes": {{"plan": "pro", "fav": {literal}}}}}'
        )

        # When it is sent
        response = api_client.generic(
            "POST", f"/api/v1/sites/{site.key}/identify", body, content_type="application/json"
        )

        # Then that attribute alone is rejected: the user and the rest are stored
        assert response.status_code == 200
        reason = "unsupported_type" if literal[0] in "[{" else "invalid_string"
        assert response.json() == {
            "visitor_id": TABLET,
            "user_id": "u1",
            "stored": ["plan"],
            "rejected": {"fav": reason},
        }
        assert values_of(site, "u1") == {"plan": ("string", "pro")}
        assert Visitor.objects.get(site=site, visitor_id=TABLET).profile.user_id == "u1"
        assert AttributeRejection.objects.get(site=site).key == "fav"


class TestIdempotency:
    def test_a_retry_is_acknowledged_and_not_applied_again(self, api_client, site):
        first = identify(api_client, site, TABLET, "u1", {"total": 1}, message_id="m" * 32)
        identify(api_client, site, TABLET, "u1", {"total": 2}, message_id="n" * 32)

        retry = identify(api_client, site, TABLET, "u1", {"total": 1}, message_id="m" * 32)

        assert retry.status_code == 200
        assert retry.json() == {**first.json(), "duplicate": True}
        assert values_of(site, "u1") == {"total": ("number", 2.0)}

    def test_a_retry_leaves_no_trace_in_the_catalogue_or_the_rejection_counts(
        self, api_client, site
    ):
        body = {"plan": "pro", "bad key!": 1}
        first = identify(api_client, site, TABLET, None, body, message_id="r" * 32)
        catalogue = list(AttributeKey.objects.filter(site=site).values())
        rejections = list(AttributeRejection.objects.filter(site=site).values())
        visitor = Visitor.objects.get(site=site, visitor_id=TABLET)

        retry = identify(api_client, site, TABLET, None, body, message_id="r" * 32)

        assert retry.json() == {**first.json(), "duplicate": True}
        assert first.json()["rejected"] != {}
        assert list(AttributeKey.objects.filter(site=site).values()) == catalogue
        assert list(AttributeRejection.objects.filter(site=site).values()) == rejections
        assert Visitor.objects.get(pk=visitor.pk).last_seen_at == visitor.last_seen_at
        assert ProcessedMessage.objects.filter(site=site).count() == 1

    def test_a_retry_later_than_the_retention_window_is_applied_again(self, api_client, site):
        from apps.identity.services import visitor_identify

        long_ago = datetime(2026, 1, 1, tzinfo=UTC)
        visitor_identify(
            site=site,
            visitor_id=TABLET,
            user_id="u1",
            attributes={"total": 1},
            message_id="m" * 32,
            now=long_ago,
        )
        ProcessedMessage.objects.filter(site=site).update(created_at=long_ago)
        identify(api_client, site, TABLET, "u1", {"total": 2})

        # No purge has run: the id is still stored, but older than the window.
        late = identify(api_client, site, TABLET, "u1", {"total": 1}, message_id="m" * 32)
        again = identify(api_client, site, TABLET, "u1", {"total": 1}, message_id="m" * 32)

        assert "duplicate" not in late.json()
        assert again.json() == {**late.json(), "duplicate": True}
        assert values_of(site, "u1") == {"total": ("number", 1.0)}
        assert ProcessedMessage.objects.filter(site=site).count() == 1

    def test_a_message_id_a_page_visit_used_is_refused_for_identify(self, api_client, site):
        body = {
            "visitor_id": TABLET,
            "session_id": "s" * 32,
            "url": "https://s/",
            "message_id": "m" * 32,
        }
        api_client.post(f"/api/v1/sites/{site.key}/sessions", body, format="json")

        response = identify(api_client, site, TABLET, "u1", {"total": 1}, message_id="m" * 32)
        visit_again = api_client.post(f"/api/v1/sites/{site.key}/sessions", body, format="json")

        assert response.status_code == 409
        assert response.json()["code"] == "message_id_conflict"
        assert not Profile.objects.filter(site=site, user_id="u1").exists()
        assert visit_again.json() == {"session_id": "s" * 32, "page_count": 1, "duplicate": True}

    @pytest.mark.parametrize(
        ("visitor_id", "user_id", "attributes"),
        [
            (MOBILE, "u1", {"total": 1}),
            (TABLET, "u2", {"total": 1}),
            (TABLET, None, {"total": 1}),
            (TABLET, "u1", {"total": 9}),
            (TABLET, "u1", {"total": 1, "plan": "pro"}),
        ],
    )
    def test_a_message_id_reused_by_another_call_is_refused(
        self, api_client, site, visitor_id, user_id, attributes
    ):
        """Taken for a retry, the other call would be answered as stored and dropped."""
        identify(api_client, site, TABLET, "u1", {"total": 1}, message_id="m" * 32)

        response = identify(api_client, site, visitor_id, user_id, attributes, message_id="m" * 32)
        retry = identify(api_client, site, TABLET, "u1", {"total": 1}, message_id="m" * 32)

        assert response.status_code == 409
        assert response.json() == {
            "code": "message_id_conflict",
            "message": "This message_id was used by another call, with other ids or values: "
            "give every call an id of its own. Nothing was applied.",
        }
        assert retry.json()["duplicate"] is True
        assert Profile.objects.filter(site=site).count() == 1
        assert values_of(site, "u1") == {"total": ("number", 1.0)}

    def test_a_retry_after_the_secret_key_was_rotated_is_still_a_retry(
        self, api_client, site, settings
    ):
        first = identify(api_client, site, TABLET, "u1", {"total": 1}, message_id="m" * 32)
        settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
        settings.SECRET_KEY = "a-new-secret-key-for-this-test-only-0123456789"

        retry = identify(api_client, site, TABLET, "u1", {"total": 1}, message_id="m" * 32)

        assert retry.json() == {**first.json(), "duplicate": True}

    def test_the_kept_answer_names_no_one(self, api_client, site):
        identify(api_client, site, TABLET, "ABC", {"plan": "pro"}, message_id="m" * 32)

        kept = ProcessedMessage.objects.get(site=site).response

        assert set(kept) == {"stored", "rejected", "call"}
        for term in ("ABC", TABLET, "pro"):  # the digest is hexadecimal
            assert term not in str(kept)

    def test_a_page_visit_reusing_a_message_id_with_another_session_is_refused(
        self, api_client, site
    ):
        def visit(session_id, url="https://s/"):
            body = {"visitor_id": TABLET, "session_id": session_id, "url": url}
            return api_client.post(
                f"/api/v1/sites/{site.key}/sessions",
                {**body, "message_id": "m" * 32},
                format="json",
            )

        visit("s" * 32)
        other = visit("t" * 32)
        elsewhere = visit("s" * 32, url="https://s/other")
        retry = visit("s" * 32)

        assert (other.status_code, elsewhere.status_code) == (409, 409)
        assert other.json()["code"] == "message_id_conflict"
        assert retry.json() == {"session_id": "s" * 32, "page_count": 1, "duplicate": True}
        assert list(Session.objects.values_list("session_key", flat=True)) == ["s" * 32]

    def test_message_ids_are_per_site(self, api_client, site, other_site):
        identify(api_client, site, TABLET, "u1", {"total": 1}, message_id="m" * 32)
        response = identify(api_client, other_site, TABLET, "u1", {"total": 5}, message_id="m" * 32)

        assert "duplicate" not in response.json()
        assert values_of(other_site, "u1") == {"total": ("number", 5.0)}


class TestLimits:
    def test_a_site_has_at_most_100_keys(self, api_client, site):
        identify(api_client, site, TABLET, "u1", {f"k{i:03}": i for i in range(100)})

        response = identify(api_client, site, TABLET, "u1", {"k000": -1, "extra": 1})

        assert response.json()["stored"] == ["k000"]
        assert response.json()["rejected"] == {"extra": "site_key_limit_reached"}
        assert AttributeKey.objects.filter(site=site).count() == 100
        assert values_of(site, "u1")["k000"] == ("number", -1.0)

    def test_the_last_places_go_to_the_keys_sent_first(self, api_client, site):
        identify(api_client, site, TABLET, "u1", {f"k{i:03}": i for i in range(99)})

        response = identify(api_client, site, TABLET, "u1", {"zeta_first": 1, "alpha_second": 2})

        assert response.json()["stored"] == ["zeta_first"]
        assert response.json()["rejected"] == {"alpha_second": "site_key_limit_reached"}

    def test_too_many_attributes_in_a_call(self, api_client, site):
        response = identify(api_client, site, TABLET, "u1", {f"k{i:03}": i for i in range(101)})

        assert len(response.json()["stored"]) == 100
        assert response.json()["rejected"] == {"k100": "too_many_attributes"}


class TestCorsAndThrottle:
    def test_preflight_from_an_allowed_origin(self, api_client, site):
        response = api_client.options(
            f"/api/v1/sites/{site.key}/identify",
            HTTP_ORIGIN="https://shop.example.com",
            HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        )
        assert response.status_code == 204
        assert response["Access-Control-Allow-Origin"] == "https://shop.example.com"
        assert "POST" in response["Access-Control-Allow-Methods"]
        assert response["Access-Control-Allow-Headers"] == "Content-Type"

    @pytest.mark.parametrize(
        ("extra", "status", "code"),
        [
            ({"HTTP_ACCEPT": "text/html"}, 406, "not_acceptable"),
            ({"QUERY_STRING": "&".join(f"p{i}=1" for i in range(1001))}, 400, "bad_request"),
        ],
        ids=["not-acceptable", "too-many-parameters"],
    )
    def test_an_error_before_the_call_is_read_is_readable_by_an_allowed_page(
        self, api_client, site, extra, status, code
    ):
        """A browser hides an answer without the CORS header from the script, which then
        sees a network error and blames the allowed origins."""
        response = api_client.post(
            f"/api/v1/sites/{site.key}/identify",
            {"visitor_id": TABLET, "user_id": "u1"},
            format="json",
            HTTP_ORIGIN="https://shop.example.com",
            **extra,
        )
        assert (response.status_code, response.json()["code"]) == (status, code)
        assert response["Access-Control-Allow-Origin"] == "https://shop.example.com"

    @pytest.mark.parametrize("origin", ["https://evil.example", "http://[::1::2]", "http://[x]"])
    def test_a_call_from_another_origin_is_refused_and_stores_nothing(
        self, api_client, site, origin
    ):
        response = api_client.post(
            f"/api/v1/sites/{site.key}/identify",
            {"visitor_id": TABLET, "user_id": "u1", "attributes": {"a": 1}},
            format="json",
            HTTP_ORIGIN=origin,
        )
        assert response.status_code == 403
        assert response.json()["code"] == "origin_not_allowed"
        assert not response.has_header("Access-Control-Allow-Origin")
        assert not Profile.objects.exists()

    @pytest.mark.parametrize("origin", ["https://shop.example.com", "https://evil.example"])
    def test_json_sent_as_plain_text_is_taken_and_its_origin_checked(
        self, api_client, site, origin
    ):
        """How the tracking script sends its calls: a browser sends text/plain at once,
        without first asking whether the origin may call (a CORS preflight)."""
        body = {"visitor_id": TABLET, "user_id": "u1", "attributes": {"plan": "pro"}}

        response = api_client.post(
            f"/api/v1/sites/{site.key}/identify",
            json.dumps(body),
            content_type="text/plain;charset=UTF-8",
            HTTP_ORIGIN=origin,
        )

        if origin == "https://evil.example":
            assert (response.status_code, response.json()["code"]) == (403, "origin_not_allowed")
            assert not Profile.objects.exists()
        else:
            assert (response.status_code, response.json()["stored"]) == (200, ["plan"])
            assert values_of(site, "u1") == {"plan": ("string", "pro")}

    def test_other_text_is_still_refused(self, api_client, site):
        response = api_client.post(
            f"/api/v1/sites/{site.key}/identify", "visitor_id=x", content_type="text/csv"
        )

        assert (response.status_code, response.json()["code"]) == (415, "unsupported_media_type")

    def test_allowed_origin_gets_cors_headers_on_the_answer(self, api_client, site):
        response = api_client.post(
            f"/api/v1/sites/{site.key}/identify",
            {"visitor_id": TABLET, "user_id": "u1", "attributes": {"a": 1}},
            format="json",
            HTTP_ORIGIN="https://SHOP.example.com:443",
        )
        assert response.status_code == 200
        assert response["Access-Control-Allow-Origin"] == "https://SHOP.example.com:443"
        assert "Origin" in response["Vary"]

    @override_settings(COHORT_THROTTLE_PER_CLIENT="3/min")
    def test_per_client_throttle_answers_429_with_retry_after(self, api_client, site):
        codes = [identify(api_client, site, TABLET, "u1", {"n": i}).status_code for i in range(4)]
        response = identify(api_client, site, TABLET, "u1", {"n": 9})

        assert codes == [200, 200, 200, 429]
        assert response.status_code == 429
        assert response.json()["code"] == "throttled"
        assert 1 <= int(response["Retry-After"]) <= 60
        assert values_of(site, "u1") == {"n": ("number", 2.0)}

    @override_settings(COHORT_THROTTLE_PER_CLIENT="3/min")
    def test_calls_with_unknown_site_keys_count_against_the_client(self, api_client, site):
        """Each unknown key is a database read: guessing keys must meet the limit too."""
        unknown = [
            api_client.get(f"/api/v1/sites/{'Z' * 20}{n}/widgets?visitor_id={TABLET}").status_code
            for n in range(3)
        ]
        refused = api_client.get(f"/api/v1/sites/{'Z' * 21}/widgets?visitor_id={TABLET}")
        known = identify(api_client, site, TABLET, "u1", {"n": 1})

        assert unknown == [404, 404, 404]
        assert refused.status_code == 429
        assert refused.json()["code"] == "throttled"
        assert known.status_code == 429

    @override_settings(COHORT_THROTTLE_PER_CLIENT="3/min")
    def test_an_ipv6_client_counts_as_its_64_network(self, api_client, site):
        """One subscriber holds a whole /64: a new address per call must not pass the limit
        per client. Another network is counted apart."""

        def from_address(address: str, n: int) -> int:
            api_client.defaults["REMOTE_ADDR"] = address
            return identify(api_client, site, TABLET, "u1", {"n": n}).status_code

        same = [from_address(f"2001:db8:1:2::{i + 1:x}", i) for i in range(4)]
        other = from_address("2001:db8:1:3::1", 9)

        assert same == [200, 200, 200, 429]
        assert other == 200

    @override_settings(COHORT_THROTTLE_PER_CLIENT="2/min", COHORT_THROTTLE_PER_SITE="5/min")
    def test_a_client_past_its_limit_does_not_use_up_the_sites(self, api_client, site):
        """The site key is public: one client hammering it must not switch the site's
        public API off for everyone else."""
        clear_of_minute_end()
        api_client.defaults["REMOTE_ADDR"] = "203.0.113.7"
        hammering = [identify(api_client, site, TABLET, "u1").status_code for _ in range(10)]
        api_client.defaults["REMOTE_ADDR"] = "198.51.100.1"
        someone_else = identify(api_client, site, MOBILE, "u2").status_code

        assert hammering == [200, 200] + [429] * 8
        assert someone_else == 200

    @override_settings(COHORT_THROTTLE_PER_SITE="2/min", COHORT_THROTTLE_BUSY_SITE_CLIENT="1/min")
    def test_per_site_throttle_does_not_touch_other_sites(self, api_client, site, other_site):
        clear_of_minute_end()
        statuses = [identify(api_client, site, TABLET, "u1").status_code for _ in range(4)]

        assert statuses == [200, 200, 200, 429]  # the site's 2, then the client's share
        assert identify(api_client, other_site, TABLET, "u1").status_code == 200

    @override_settings(
        COHORT_THROTTLE_PER_CLIENT="100/min",
        COHORT_THROTTLE_PER_SITE="10/min",
        COHORT_THROTTLE_BUSY_SITE_CLIENT="2/min",
    )
    def test_a_busy_site_refuses_its_heavy_senders_not_its_visitors(self, api_client, site):
        """Addresses each within their own limit together pass the site's: from then on
        each client has a small share of its own, so the heavy senders are refused and a
        visitor making a page's few calls is not (a shared cap would refuse everyone)."""
        clear_of_minute_end()
        api_client.defaults["REMOTE_ADDR"] = "203.0.113.7"
        heavy = [identify(api_client, site, TABLET, "u1").status_code for _ in range(20)]
        api_client.defaults["REMOTE_ADDR"] = "198.51.100.1"
        visitor = [identify(api_client, site, MOBILE, "u2").status_code for _ in range(3)]

        assert heavy == [200] * 10 + [200] * 2 + [429] * 8
        assert visitor == [200, 200, 429]


class TestSessions:
    def test_pages_of_one_session_are_counted(self, api_client, site):
        visit(api_client, site, TABLET, "session-A-000000001", "https://shop.example.com/")
        response = visit(
            api_client, site, TABLET, "session-A-000000001", "https://shop.example.com/b"
        )

        assert response.json() == {"session_id": "session-A-000000001", "page_count": 2}
        session = Session.objects.get(site=site)
        assert (session.landing_url, session.last_url) == (
            "https://shop.example.com/",
            "https://shop.example.com/b",
        )

    def test_a_session_id_of_another_visitor_is_refused(self, api_client, site):
        visit(api_client, site, TABLET, "session-A-000000001")
        response = visit(api_client, site, MOBILE, "session-A-000000001")

        assert response.status_code == 400
        assert response.json()["code"] == "invalid_session_id"
        assert Session.objects.get(site=site).page_count == 1

    def test_sessions_are_recorded_while_user_attributes_are_disabled(self, api_client, account):
        site = SiteFactory(account=account, user_attributes_enabled=False)
        assert visit(api_client, site, TABLET, "session-A-000000001").status_code == 200
        assert Session.objects.filter(site=site).count() == 1

    @pytest.mark.parametrize("url", [None, "", 5, "x" * 2001])
    def test_bad_url_is_400(self, api_client, site, url):
        response = visit(api_client, site, TABLET, "session-A-000000001", url)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_url"


def test_identify_hot_path_query_budget(api_client, site, django_assert_max_num_queries):
    identify(api_client, site, TABLET, "u1", {"plan": "gold", "n": 1})
    with django_assert_max_num_queries(12):
        response = identify(
            api_client, site, TABLET, "u1", {"plan": "silver", "n": 2}, message_id="q" * 20
        )
    assert response.status_code == 200


def test_oversized_body_is_413_and_stores_nothing(api_client, site):
    huge = "x" * 300_000
    body = f'{{"visitor_id": "{TABLET}", "user_id": "u1", "attributes": {{"a": "{huge}"}}}}'
    response = api_client.generic(
        "POST", f"/api/v1/sites/{site.key}/identify", body, content_type="application/json"
    )
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"
    assert not Profile.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        f'{{"visitor_id": "{TABLET}", "user_id": "u\\u0000", "attributes": {{"a": 1}}}}',
        f'{{"visitor_id": "{TABLET}", "user_id": "u\\ud800", "attributes": {{"a": 1}}}}',
        f'{{"visitor_id": "{TABLET}", "user_id": "u1", "attributes": {{"\\u0000": 1}}}}',
        f'{{"visitor_id": "{TABLET}", "user_id": "u1", "attributes": {{"\\udc00": 1}}}}',
        f'{{"visitor_id": "{TABLET}", "user_id": "u1", "attributes": {{}}, "x": "\\u0000"}}',
        f'{{"visitor_id": "{TABLET}", "user_id": "u1", "attributes": ["\\u0000"]}}',
        "[" * 100_000 + "]" * 100_000,
    ],
    ids=[
        "nul-user-id",
        "lone-surrogate-user-id",
        "nul-key",
        "lone-surrogate-key",
        "nul-elsewhere",
        "attributes-not-an-object",
        "deep-nesting",
    ],
)
def test_text_that_cannot_be_stored_outside_attribute_values_is_a_400_not_a_crash(
    api_client, site, body
):
    response = api_client.generic(
        "POST", f"/api/v1/sites/{site.key}/identify", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_body"
    assert not Profile.objects.exists()


def test_a_page_visit_with_text_that_cannot_be_stored_is_a_400(api_client, site):
    body = (
        f'{{"visitor_id": "{TABLET}", "session_id": "{MOBILE}", '
        '"url": "https://shop.example.com/\\u0000", "referrer": ""}'
    )
    response = api_client.generic(
        "POST", f"/api/v1/sites/{site.key}/sessions", body, content_type="application/json"
    )
    assert (response.status_code, response.json()["code"]) == (400, "malformed_body")
    assert not Visitor.objects.exists()


@pytest.mark.parametrize("path", ["identify", "sessions"])
def test_an_empty_body_is_named_as_one_not_as_a_bad_visitor_id(api_client, site, path):
    """An empty body, or one sent in chunks (which is not read), is not an empty object."""
    response = api_client.generic(
        "POST", f"/api/v1/sites/{site.key}/{path}", "", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_body"
    assert "The request body is empty" in response.json()["message"]


@pytest.mark.parametrize("charset", ["base64", "rot13", "zlib", "undefined", "punycode"])
@pytest.mark.parametrize("path", ["identify", "sessions"])
def test_a_charset_that_is_no_text_encoding_is_a_400(api_client, site, charset, path):
    body = f'{{"visitor_id": "{TABLET}", "user_id": "u1", "attributes": {{}}}}'
    response = api_client.generic(
        "POST",
        f"/api/v1/sites/{site.key}/{path}",
        body,
        content_type=f"text/plain; charset={charset}",
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": "malformed_body",
        "message": f"The body's charset ({charset}) is not a text encoding: send JSON as UTF-8.",
    }
    assert not Profile.objects.exists()


@override_settings(COHORT_THROTTLE_PER_CLIENT="2/min")
def test_a_client_cannot_escape_its_limit_with_a_forged_forwarded_for(api_client, site):
    clear_of_minute_end()
    statuses = [
        api_client.post(
            f"/api/v1/sites/{site.key}/identify",
            {"visitor_id": TABLET, "user_id": "u1", "attributes": {}},
            format="json",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{i}",
        ).status_code
        for i in range(3)
    ]
    assert statuses == [200, 200, 429]
