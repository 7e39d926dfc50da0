import datetime

import factory

from apps.consent.models import ConsentRecord, SignedDPA
from apps.consent.selectors import DPA_VERSION
from tests.factories import AccountFactory, SiteFactory, UserFactory


class ConsentRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConsentRecord

    site = factory.SubFactory(SiteFactory)
    account = factory.SelfAttribute("site.account")
    site_name = factory.SelfAttribute("site.name")
    action = ConsentRecord.Action.ENABLED
    user = factory.SubFactory(UserFactory)
    user_email = factory.SelfAttribute("user.email")
    dpa_version = DPA_VERSION
    statements = factory.LazyFunction(lambda: ["privacy reviewed", "DPA signed"])
    client_ip = "203.0.113.9"


class SignedDPAFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SignedDPA

    account = factory.SubFactory(AccountFactory)
    dpa_version = DPA_VERSION
    signed_on = datetime.date(2026, 1, 15)
    signer_name = factory.Faker("name")
    signer_title = "CEO"
    recorded_by = factory.SubFactory(UserFactory, is_staff=True)
