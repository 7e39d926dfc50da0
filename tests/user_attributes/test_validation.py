"""The attribute validator: every type, every reason code, every limit."""

import json
import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.common.errors import ApplicationError
from apps.common.text import text_unstorable
from apps.user_attributes.validation import (
    EMAIL_RE,
    MAX_ATTRIBUTES_PER_CALL,
    MAX_SAFE_INTEGER,
    MAX_STRING_LENGTH,
    Reason,
    TypedValue,
    check_attributes,
    clean_client_id,
    clean_user_id,
    email_spans,
    emails_masked,
    parse_iso_date,
)


def accepted(attributes, *, identified=True):
    return check_attributes(attributes, identified=identified).accepted


def rejected(attributes, *, identified=True):
    return check_attributes(attributes, identified=identified).rejected


class TestTypes:
    def test_integers_and_decimals_are_numbers(self):
        result = accepted({"total_spend": 500, "ratio": 0.25, "debt": -3})
        assert result == {
            "total_spend": TypedValue("number", number_value=500.0),
            "ratio": TypedValue("number", number_value=0.25),
            "debt": TypedValue("number", number_value=-3.0),
        }

    def test_booleans_are_booleans_not_numbers(self):
        assert accepted({"paying": True, "churned": False}) == {
            "paying": TypedValue("boolean", boolean_value=True),
            "churned": TypedValue("boolean", boolean_value=False),
        }

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2019-06-20Z", datetime(2019, 6, 20, tzinfo=UTC)),
            ("2019-06-20", datetime(2019, 6, 20, tzinfo=UTC)),
            ("2019-06-20T10:00:00.000Z", datetime(2019, 6, 20, 10, tzinfo=UTC)),
            ("2019-06-20T10:00Z", datetime(2019, 6, 20, 10, tzinfo=UTC)),
            ("2019-06-20T10:00:00+02:00", datetime(2019, 6, 20, 8, tzinfo=UTC)),
            ("2019-06-20T10:00:00.123456789-0130", datetime(2019, 6, 20, 11, 30, 0, 123456, UTC)),
            # an offset of hours alone, an hour alone, and PostgreSQL's own output
            ("2019-06-20T10:00:00+05", datetime(2019, 6, 20, 5, tzinfo=UTC)),
            ("2019-06-20T10Z", datetime(2019, 6, 20, 10, tzinfo=UTC)),
            ("2019-06-20 10:00:00+00", datetime(2019, 6, 20, 10, tzinfo=UTC)),
            ("2019-06-20 10:00:00.5 +0000", datetime(2019, 6, 20, 10, 0, 0, 500000, UTC)),
            # RFC 3339's lower-case t and z, and a decimal comma
            ("2019-06-20t10:00:00z", datetime(2019, 6, 20, 10, tzinfo=UTC)),
            ("2019-06-20T10:00:00,5Z", datetime(2019, 6, 20, 10, 0, 0, 500000, UTC)),
            ("2019-06-20z", datetime(2019, 6, 20, tzinfo=UTC)),
        ],
    )
    def test_iso_8601_strings_are_dates(self, text, expected):
        assert accepted({"first_purchase": text}) == {
            "first_purchase": TypedValue("date", date_value=expected)
        }

    @pytest.mark.parametrize("text", ["2024-05-06-01", "2024-05-06+01", "2019-06-20 10"])
    def test_ids_shaped_like_a_date_with_a_number_after_it_stay_strings(self, text):
        assert accepted({"batch": text}) == {"batch": TypedValue("string", string_value=text)}

    def test_other_strings_are_strings(self):
        assert accepted({"plan": "gold", "empty": "", "code": "2019-06"}) == {
            "plan": TypedValue("string", string_value="gold"),
            "empty": TypedValue("string", string_value=""),
            "code": TypedValue("string", string_value="2019-06"),
        }

    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            ({"nested": 1}, Reason.UNSUPPORTED_TYPE),
            ([1, 2], Reason.UNSUPPORTED_TYPE),
            (None, Reason.NULL_VALUE),
            (math.nan, Reason.INVALID_NUMBER),
            (math.inf, Reason.INVALID_NUMBER),
            (-math.inf, Reason.INVALID_NUMBER),
            (MAX_SAFE_INTEGER + 1, Reason.NUMBER_OUT_OF_RANGE),
            (1e300, Reason.NUMBER_OUT_OF_RANGE),
            ("x" * (MAX_STRING_LENGTH + 1), Reason.STRING_TOO_LONG),
            ("2019-02-30", Reason.INVALID_DATE),
            ("2019-06-20T25:00:00Z", Reason.INVALID_DATE),
        ],
    )
    def test_values_that_cannot_be_stored_are_rejected_with_a_reason(self, value, reason):
        assert rejected({"key": value}) == {"key": reason}

    def test_longest_allowed_string_is_kept(self):
        assert accepted({"bio": "é" * MAX_STRING_LENGTH})["bio"].string_value == "é" * 500


class TestKeys:
    @pytest.mark.parametrize("key", ["total_spend", "_private", "a.b", "plan-2", "A" * 50])
    def test_valid_keys(self, key):
        assert key in accepted({key: 1})

    @pytest.mark.parametrize(
        ("key", "reason"),
        [
            ("", Reason.INVALID_KEY),
            ("1st", Reason.INVALID_KEY),
            ("has space", Reason.INVALID_KEY),
            ("emoji😀", Reason.INVALID_KEY),
            ("plan\n", Reason.INVALID_KEY),
            ("a" * 51, Reason.KEY_TOO_LONG),
        ],
    )
    def test_invalid_keys(self, key, reason):
        assert rejected({key: 1}) == {key: reason}

    def test_too_many_attributes_in_one_call_keeps_the_first_hundred(self):
        attributes = {f"k{i}": i for i in range(MAX_ATTRIBUTES_PER_CALL + 2)}
        result = check_attributes(attributes, identified=True)
        assert list(result.accepted) == [f"k{i}" for i in range(MAX_ATTRIBUTES_PER_CALL)]
        assert result.rejected == {
            "k100": Reason.TOO_MANY_ATTRIBUTES,
            "k101": Reason.TOO_MANY_ATTRIBUTES,
        }


class TestEmail:
    def test_email_key_holds_an_email_for_an_identified_user(self):
        assert accepted({"email": " Rachel@Example.com "}) == {
            "email": TypedValue("string", string_value="rachel@example.com")
        }

    def test_email_without_user_id_is_personal_data_and_refused(self):
        result = check_attributes({"email": "a@b.co", "ab_test": "A"}, identified=False)
        assert result.rejected == {"email": Reason.PII_WITHOUT_USER_ID}
        assert list(result.accepted) == ["ab_test"]

    @pytest.mark.parametrize("key", ["contact", "Email", "e_mail", "note"])
    def test_email_address_under_any_other_key_is_rejected(self, key):
        result = check_attributes(
            {key: "write to rachel@example.com", "plan": "x"}, identified=True
        )
        assert result.rejected == {key: Reason.EMAIL_OUTSIDE_EMAIL_KEY}
        assert list(result.accepted) == ["plan"]

    def test_an_address_is_measured_as_it_is_stored_in_lower_case(self):
        """Lower case can be longer ("İ" is two characters in it): an address within 254
        characters as sent but not as stored is refused, not stored past its column."""
        address = "İ" * 120 + "@" + "İ" * 129 + ".com"
        assert len(address) == 254

        assert rejected({"email": address}) == {"email": Reason.INVALID_EMAIL}
        # a Turkish capital in an address of ordinary length is an address still
        stored = accepted({"email": "İLKER@FIRMA.COM.TR"})["email"].string_value
        assert stored == "İLKER@FIRMA.COM.TR".lower()

    def test_a_slash_before_the_at_sign_still_finds_the_address_after_it(self):
        assert rejected({"note": "see a/b@example.com"}) == {"note": Reason.EMAIL_OUTSIDE_EMAIL_KEY}

    @pytest.mark.parametrize(
        "address", ["O'Brien@Example.com", "josé@example.com", "info@müller.de", "a+tag@x.io"]
    )
    def test_email_key_takes_addresses_in_any_script(self, address):
        assert accepted({"email": address})["email"].string_value == address.lower()

    @pytest.mark.parametrize(
        "text",
        [
            "josé@example.com",
            "info@müller.de",
            "mail o'brien@example.com",
            "ivan@пример.рф",
            "x@xn--mller-kva.de",
        ],
    )
    def test_addresses_in_any_script_are_refused_under_other_keys(self, text):
        for identified in (True, False):
            result = check_attributes({"note": text}, identified=identified)
            assert result.rejected == {"note": Reason.EMAIL_OUTSIDE_EMAIL_KEY}

    @pytest.mark.parametrize(
        "text",
        [
            "@rachel",
            "v1.2@3.4",
            "a@b.c",
            "me@localhost",
            "x @ y.com",
            # a link to a profile: the "/" before "@" is no part of an address
            "https://medium.com/@jane.doe/my-post-123",
            "https://www.tiktok.com/@some.user",
        ],
    )
    def test_text_that_is_not_an_address_is_stored(self, text):
        assert accepted({"note": text})["note"].string_value == text

    @pytest.mark.parametrize("value", [42, "not an email", True, "a@b", ["a@b.co"]])
    def test_email_key_must_hold_an_email_string(self, value):
        assert rejected({"email": value}) == {"email": Reason.INVALID_EMAIL}

    def test_at_sign_without_address_is_a_plain_string(self):
        assert accepted({"handle": "@rachel"})["handle"].string_value == "@rachel"


class TestIds:
    @pytest.mark.parametrize(
        "placeholder",
        ["null", "undefined", "None", "[object Object]", "anonymous", "0", "", "   ", "NULL"],
    )
    def test_placeholder_user_ids_are_refused(self, placeholder):
        with pytest.raises(ApplicationError) as error:
            clean_user_id(placeholder)
        assert error.value.code == "invalid_user_id"

    @pytest.mark.parametrize("value", [123, 1.5, True, {"id": 1}, ["a"], "a" * 256, "ab\ncd"])
    def test_user_id_must_be_a_bounded_string(self, value):
        with pytest.raises(ApplicationError) as error:
            clean_user_id(value)
        assert error.value.code == "invalid_user_id"

    def test_real_user_ids_pass_unchanged(self):
        assert clean_user_id("931493") == "931493"
        assert clean_user_id("rachel@example.com") == "rachel@example.com"
        assert clean_user_id(None) is None

    def test_spaces_around_a_user_id_are_dropped(self):
        assert clean_user_id("  931493 ") == "931493"
        assert clean_user_id("Rachel Green") == "Rachel Green"

    @pytest.mark.parametrize(
        "value",
        [None, "short", "x" * 65, "has space here!!", 12345678901234567, "a" * 64 + "\n"],
    )
    def test_visitor_id_format(self, value):
        with pytest.raises(ApplicationError) as error:
            clean_client_id(value, name="visitor_id")
        assert error.value.code == "invalid_visitor_id"

    def test_visitor_id_accepts_documented_format(self):
        assert clean_client_id("a" * 16, name="visitor_id") == "a" * 16
        assert clean_client_id("Ab_-09" * 10, name="visitor_id") == "Ab_-09" * 10


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=600)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(
    attributes=st.dictionaries(st.text(max_size=60), json_values, max_size=8),
    identified=st.booleans(),
)
def test_any_json_object_gets_a_verdict_for_every_key(attributes, identified):
    """Property: every key is either accepted with a value of its type or rejected with a
    documented reason; nothing is lost, nothing raises."""
    result = check_attributes(attributes, identified=identified)
    assert set(result.accepted) | set(result.rejected) == set(attributes)
    assert not set(result.accepted) & set(result.rejected)
    assert set(result.rejected.values()) <= set(Reason.MESSAGES)
    for key, typed in result.accepted.items():
        assert typed.value is not None
        if typed.value_type == "string":
            assert len(typed.string_value) <= MAX_STRING_LENGTH
            assert key == "email" or not EMAIL_RE.search(typed.string_value)
        if typed.value_type == "number":
            assert math.isfinite(typed.number_value)
    if not identified:
        assert "email" not in result.accepted
    json.dumps(result.rejected)


@given(st.datetimes(timezones=st.just(UTC)))
def test_javascript_iso_strings_round_trip(moment):
    text = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    parsed = parse_iso_date(text)
    assert parsed == moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class TestHostileInput:
    """Whatever arrives, the validator answers with a verdict per key and never raises."""

    @pytest.mark.parametrize(
        "text", ["0001-01-01T00:00+14:00", "9999-12-31T23:59-12:00", "0000-01-01"]
    )
    def test_dates_beyond_the_calendar_are_invalid_dates(self, text):
        assert rejected({"d": text}) == {"d": Reason.INVALID_DATE}

    @pytest.mark.parametrize("number", [2**63, -(2**63) - 1, 10**400, -(10**30)])
    def test_numbers_beyond_64_bits_are_out_of_range(self, number):
        assert rejected({"n": number}) == {"n": Reason.NUMBER_OUT_OF_RANGE}

    def test_deep_nesting_is_an_unsupported_type(self):
        value: list = []
        for _ in range(5000):
            value = [value]
        assert rejected({"deep": value}) == {"deep": Reason.UNSUPPORTED_TYPE}

    def test_huge_strings_are_too_long(self):
        assert rejected({"s": "x" * 5_000_000}) == {"s": Reason.STRING_TOO_LONG}

    @pytest.mark.parametrize("text", ["x\x00y", "Great book \ud83d", "\ude00", "a@b.co\x00"])
    @pytest.mark.parametrize("key", ["fav", "email"])
    def test_text_no_database_stores_is_an_invalid_string(self, key, text):
        assert rejected({key: text}) == {key: Reason.INVALID_STRING}


hostile_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.text(alphabet="x", min_size=499, max_size=501)
    | st.builds(
        lambda moment, offset: f"{moment.isoformat()}{offset}",
        st.datetimes(),
        st.sampled_from(["", "Z", "+14:00", "-12:00", "+0530"]),
    )
    | st.sampled_from(["2019-06-20Z", "0001-01-01T00:00+14:00", "a@b.co", "\x00", "\ud800"])
)
hostile_values = st.recursive(
    hostile_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(attributes=st.dictionaries(st.text(max_size=60), hostile_values, max_size=8))
def test_hostile_attributes_never_raise(attributes):
    """200 generated calls (max_examples above), each judged with and without a user id."""
    for identified in (True, False):
        result = check_attributes(attributes, identified=identified)
        assert set(result.accepted) | set(result.rejected) == set(attributes)
        for typed in result.accepted.values():
            assert typed.value_type != "string" or text_unstorable(typed.string_value) is None


@settings(max_examples=400)
@given(st.text(alphabet="ab1.@-_é'Z ", max_size=90))
def test_addresses_are_found_from_each_at_sign_as_a_full_search_would(text):
    """The search from each "@" (linear in the text's length) finds an address exactly
    when a plain search with the pattern (quadratic) does."""
    assert bool(email_spans(text)) == bool(EMAIL_RE.search(text))
    for start, end in email_spans(text):
        assert EMAIL_RE.fullmatch(text[start:end])


def test_a_long_text_full_of_near_addresses_is_searched_in_one_pass():
    text = "a" * 250 + "@" + "aa1." * 62  # no address: every label ends in a digit
    assert email_spans(text) == []
    assert emails_masked("x" * 300 + "@example.com", keep=50) == "x" * 50
    assert emails_masked("note: rachel@example.com, bob@b.io", keep=50) == "note: <email>, <email>"
