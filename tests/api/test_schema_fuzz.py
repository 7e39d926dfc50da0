"""Schemathesis drives the public and private API from the OpenAPI schema: no 5xx, every
answer matches the schema. Bounded and deterministic so CI stays fast and repeatable."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from apps.accounts.services import api_token_create
from apps.feedback_targeting.services import widget_activate, widget_save
from tests.factories import MembershipFactory, SiteFactory

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES_PER_OPERATION = 30
# No 5xx, and every answer's status, content type and body as the schema says. The schema
# cannot say everything the API refuses (placeholder user ids, an email under another
# key), so "a schema-valid request is accepted" is not among the checks.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture
def tenant(db):
    site = SiteFactory(allowed_origins=[])
    owner = MembershipFactory(account=site.account, role="owner").user
    _, token = api_token_create(account=site.account, user=owner, name="fuzz")
    feedback = widget_activate(
        widget=widget_save(site=site, kind="feedback", name="Feedback", targeting={}, questions=[])
    )
    return site, token, feedback


def test_api_answers_match_the_schema(live_server, tenant):
    site, token, feedback = tenant
    loaded = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json")
    operations = [
        result.ok()
        for result in loaded.get_all_operations()
        if result.ok().path.startswith("/api/v1/")
    ]
    tried: dict[str, int] = {}

    def fuzz(operation) -> None:
        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            if case.path_parameters and "site_key" in case.path_parameters:
                case.path_parameters["site_key"] = site.key
            if case.path_parameters and "widget_id" in case.path_parameters:
                case.path_parameters["widget_id"] = feedback.pk
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
            tried[operation.label] = tried.get(operation.label, 0) + 1
            case.call_and_validate(base_url=live_server.url, checks=CHECKS)

        check()

    for operation in operations:
        fuzz(operation)

    print(f"schemathesis: {sum(tried.values())} cases over {len(tried)} operations: {tried}")
    assert len(tried) == len(operations) >= 6
