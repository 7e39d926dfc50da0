"""Factories for every model, shared by the whole suite."""

from datetime import timedelta

import factory
from django.utils import timezone

from apps.accounts.models import Account, ApiToken, Membership, User
from apps.billing.models import PlanChange
from apps.identity.models import PrivacyAudit, ProcessedMessage, Profile, Session, Visitor
from apps.sites.models import Site
from apps.user_attributes.models import (
    AttributeKey,
    AttributeRejection,
    AttributeValue,
    ValueType,
)

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Faker("name")
    password = factory.django.Password(PASSWORD)
    email_confirmed_at = factory.LazyFunction(timezone.now)


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Account {n}")
    slug = factory.Sequence(lambda n: f"account-{n}")
    tier = Account.Tier.BUSINESS
    billing_version = Account.BillingVersion.V2


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    account = factory.SubFactory(AccountFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.MEMBER


class PlanChangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlanChange

    account = factory.SubFactory(AccountFactory)
    source = PlanChange.Source.OWNER
    from_tier = Account.Tier.BASIC
    to_tier = Account.Tier.BUSINESS
    from_billing_version = 2
    to_billing_version = 2


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    account = factory.SubFactory(AccountFactory)
    name = factory.Sequence(lambda n: f"Site {n}")
    allowed_origins = factory.LazyFunction(lambda: ["https://shop.example.com"])
    user_attributes_enabled = True


class ProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Profile

    site = factory.SubFactory(SiteFactory)
    user_id = factory.Sequence(lambda n: f"user-{n}")
    created_at = factory.LazyFunction(timezone.now)
    updated_at = factory.LazyFunction(timezone.now)


class VisitorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Visitor

    site = factory.SubFactory(SiteFactory)
    visitor_id = factory.Sequence(lambda n: f"v{n:031d}")
    profile = None
    first_seen_at = factory.LazyFunction(timezone.now)
    last_seen_at = factory.LazyFunction(timezone.now)


class SessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Session

    site = factory.SubFactory(SiteFactory)
    visitor = factory.SubFactory(VisitorFactory, site=factory.SelfAttribute("..site"))
    profile = None
    session_key = factory.Sequence(lambda n: f"s{n:031d}")
    landing_url = "https://shop.example.com/"
    last_url = "https://shop.example.com/"
    referrer = ""
    started_at = factory.LazyFunction(timezone.now)
    last_seen_at = factory.LazyFunction(timezone.now)


def sessions_of(visitor: Visitor, n: int, *, start) -> list[Session]:
    """`n` sessions of the visitor's person, one a minute from `start` (the newest last),
    landing on https://s/flood/<i>: in one statement, for people with many sessions."""
    return Session.objects.bulk_create(
        SessionFactory.build(
            site=visitor.site,
            visitor=visitor,
            profile=visitor.profile,
            session_key=f"flood-{i:012d}",
            landing_url=f"https://s/flood/{i}",
            last_url=f"https://s/flood/{i}",
            started_at=start + timedelta(minutes=i),
            last_seen_at=start + timedelta(minutes=i),
        )
        for i in range(n)
    )


class AttributeValueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AttributeValue

    site = factory.SubFactory(SiteFactory)
    profile = factory.SubFactory(ProfileFactory, site=factory.SelfAttribute("..site"))
    key = factory.Sequence(lambda n: f"key_{n}")
    value_type = ValueType.NUMBER
    number_value = 1.0
    updated_at = factory.LazyFunction(timezone.now)


class AttributeKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AttributeKey

    site = factory.SubFactory(SiteFactory)
    key = factory.Sequence(lambda n: f"key_{n}")
    value_type = ValueType.NUMBER
    types_mask = 1
    profile_count = 0
    first_seen_at = factory.LazyFunction(timezone.now)
    last_seen_at = factory.LazyFunction(timezone.now)


class AttributeRejectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AttributeRejection

    site = factory.SubFactory(SiteFactory)
    day = factory.LazyFunction(lambda: timezone.now().date())
    key = factory.Sequence(lambda n: f"key_{n}")
    reason = "email_outside_email_key"
    count = 1


class ProcessedMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProcessedMessage

    site = factory.SubFactory(SiteFactory)
    message_id = factory.Sequence(lambda n: f"m{n:031d}")
    response = None
    created_at = factory.LazyFunction(timezone.now)


class ApiTokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApiToken

    account = factory.SubFactory(AccountFactory)
    user = factory.SubFactory(UserFactory)
    name = "CI"
    prefix = factory.Sequence(lambda n: f"ck_{n:07d}")
    token_hash = factory.Sequence(lambda n: f"{n:064x}")


class PrivacyAuditFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PrivacyAudit

    site = factory.SubFactory(SiteFactory)
    account = factory.SelfAttribute("site.account")
    site_name = factory.SelfAttribute("site.name")
    action = PrivacyAudit.Action.LOOKUP
    channel = PrivacyAudit.Channel.API
    requested_by = factory.SubFactory(UserFactory)
    requested_by_email = factory.SelfAttribute("requested_by.email")
    searched_user_id = True
    terms_salt = "0" * 32
    terms_hash = "0" * 64
    profiles_found = 1
