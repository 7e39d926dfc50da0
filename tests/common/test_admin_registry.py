"""Every model is in the admin, and every admin page opens with two tenants' data in it."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import AccountEvent, Invitation
from tests.consent.factories import ConsentRecordFactory, SignedDPAFactory
from tests.factories import (
    ApiTokenFactory,
    AttributeKeyFactory,
    AttributeRejectionFactory,
    AttributeValueFactory,
    PlanChangeFactory,
    PrivacyAuditFactory,
    ProcessedMessageFactory,
    ProfileFactory,
    SessionFactory,
    VisitorFactory,
)
from tests.feedback_targeting.factories import QuestionFactory, ResponseFactory, WidgetFactory

OUR_APPS = (
    "accounts",
    "billing",
    "sites",
    "consent",
    "identity",
    "user_attributes",
    "feedback_targeting",
)

RULE = {"match": "all", "conditions": [{"type": "number", "key": "plan", "op": "gt", "value": 0}]}


def _our_models():
    return [
        model
        for label in OUR_APPS
        for model in apps.get_app_config(label).get_models()
        if not model._meta.auto_created
    ]


@pytest.fixture
def two_tenants(site, other_site, owner, other_owner):
    for each in (site, other_site):
        profile = ProfileFactory(site=each, user_id="abc")
        visitor = VisitorFactory(site=each, profile=profile)
        SessionFactory(site=each, visitor=visitor, profile=profile)
        AttributeValueFactory(site=each, profile=profile, key="plan")
        AttributeKeyFactory(site=each, key="plan")
        AttributeRejectionFactory(site=each, key="nickname")
        ProcessedMessageFactory(site=each)
        PlanChangeFactory(account=each.account, changed_by=owner)
        PrivacyAuditFactory(site=each, requested_by=owner)
        token = ApiTokenFactory(account=each.account, user=owner, name="abc")
        AccountEvent.objects.create(
            account=each.account,
            actor=owner,
            actor_email=owner.email,
            action=AccountEvent.Action.TOKEN_CREATED,
            subject=f"{token.name} ({token.prefix}…)",
        )
        Invitation.objects.create(
            account=each.account,
            email=f"abc@{each.account.slug}.example",
            role="member",
            token_hash=f"{each.account.slug:x<64}"[:64],
            expires_at=timezone.now(),
        )
        ConsentRecordFactory(site=each, user=owner)
        SignedDPAFactory(account=each.account, signer_name="Abc Signer")
        widget = WidgetFactory(site=each, name="abc poll", targeting=RULE)
        QuestionFactory(widget=widget)
        ResponseFactory(widget=widget, profile=profile, visitor=visitor, email="abc@example.com")


def test_every_model_is_registered():
    missing = [m._meta.label for m in _our_models() if not admin.site.is_registered(m)]
    assert missing == [], "register these models in their app's admin.py"


@pytest.mark.parametrize(
    "model",
    [m for m in _our_models() if admin.site.is_registered(m)],
    ids=lambda m: m._meta.label_lower.replace(".", "_"),
)
def test_list_search_and_detail_pages_open(client, staff, two_tenants, model):
    # given staff and two tenants' worth of every model
    client.force_login(staff)
    opts = model._meta
    rows = model._default_manager.count()
    assert rows >= 2, f"add {opts.label} rows to the two_tenants fixture"
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")

    # when staff open the list, search it, and open one row
    listed = client.get(changelist)
    searched = client.get(changelist, {"q": "abc"})
    first = model._default_manager.order_by("pk").first()
    detail = client.get(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[first.pk])
    )

    # then every page renders and the list shows both tenants' rows
    assert listed.status_code == 200
    assert listed.context["cl"].result_count == rows
    assert searched.status_code == 200
    assert detail.status_code == 200
