"""Fixtures shared by the suite. There are always two tenants: `account` (the one under
test) and `other_account`, whose data must never appear in the first one's answers."""

import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from apps.accounts.models import Membership
from apps.common import localcache
from apps.common.throttling import throttle_forget_local
from tests.factories import (
    PASSWORD,
    AccountFactory,
    MembershipFactory,
    SiteFactory,
    UserFactory,
)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters and cached decisions never leak from one test to the next."""
    cache.clear()
    localcache.clear_local()
    throttle_forget_local()
    yield
    cache.clear()
    localcache.clear_local()
    throttle_forget_local()


@pytest.fixture
def account(db):
    return AccountFactory(name="Radbooks", slug="radbooks")


@pytest.fixture
def other_account(db):
    return AccountFactory(name="Other Co", slug="other-co")


@pytest.fixture
def owner(account):
    return MembershipFactory(account=account, role=Membership.Role.OWNER).user


@pytest.fixture
def admin_user(account):
    return MembershipFactory(account=account, role=Membership.Role.ADMIN).user


@pytest.fixture
def member(account):
    return MembershipFactory(account=account, role=Membership.Role.MEMBER).user


@pytest.fixture
def other_owner(other_account):
    return MembershipFactory(account=other_account, role=Membership.Role.OWNER).user


@pytest.fixture
def site(account):
    return SiteFactory(account=account, name="Main shop")


@pytest.fixture
def other_site(other_account):
    return SiteFactory(account=other_account, name="Other shop")


@pytest.fixture
def staff(db):
    """Cohort staff: uses the Django admin, belongs to no account."""
    return UserFactory(email="staff@cohort.example", is_staff=True, is_superuser=True)


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def login(client):
    """Log a user in on the Django test client: `login(user)`."""

    def _login(user):
        assert client.login(email=user.email, password=PASSWORD)
        return client

    return _login


@pytest.fixture
def on_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
