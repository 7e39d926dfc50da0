"""Which catalogue keys the settings page flags as personal data by their name."""

import pytest

from apps.user_attributes.models import TYPE_BITS, AttributeKey, ValueType
from apps.user_attributes.selectors import key_looks_personal

STRING = TYPE_BITS[ValueType.STRING]
NUMBER = TYPE_BITS[ValueType.NUMBER]
BOOLEAN = TYPE_BITS[ValueType.BOOLEAN]


@pytest.mark.parametrize(
    "key",
    [
        "email",
        "e-mail",
        "EMail",
        "email_address",
        "emailAddress",
        "phone",
        "mobile",
        "phoneNumber",
        "home_tel",
        "street",
        "ip_address",
        "zip",
        "post_code",
        "postalCode",
        "first_name",
        "firstName",
        "lastname",
        "surname",
        "date_of_birth",
        "birthday",
        "dob",
        "birthplace",
        "ssn",
        "passport_no",
        "iban",
        "card_number",
        "creditCard",
        "tax_id",
        "address",
        "emails",
        "user_emails",
        "useremail",
        "billingaddress",
        "home_addresses",
        "phones",
        "mobilephone",
        "phonenumber",
        "cardholder_name",
        "user_name",
        "zip_codes",
    ],
)
def test_names_of_personal_data_are_flagged(key):
    assert key_looks_personal(AttributeKey(key=key, types_mask=STRING))


@pytest.mark.parametrize(
    "key",
    [
        "hotel_id",
        "intel_cpu",
        "gift_card_balance",
        "card_type",
        "plan_name",
        "company_name",
        "zipper_colour",
        "telemetry",
        "mobileapp",
        "postcount",
        "iphone_model",
        "smartphone_brand",
        "payphone_count",
        "addressable_market",
        "status",
        "statuses",
    ],
)
def test_words_that_only_contain_such_names_are_not(key):
    assert not key_looks_personal(AttributeKey(key=key, types_mask=STRING))


@pytest.mark.parametrize("key", ["is_mobile", "has_email", "phone_verified"])
def test_a_key_only_ever_sent_as_a_boolean_is_a_flag_not_the_data(key):
    assert not key_looks_personal(AttributeKey(key=key, types_mask=BOOLEAN))
    assert key_looks_personal(AttributeKey(key=key, types_mask=BOOLEAN | STRING))
    assert key_looks_personal(AttributeKey(key=key, types_mask=NUMBER))
