"""Parallel identify calls against a live server on PostgreSQL: no lost key, one profile per
user id, no deadlock."""

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from apps.identity.models import Profile, Visitor
from apps.user_attributes.models import AttributeKey, AttributeValue
from tests.factories import SiteFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("on_postgres")]

DEVICES = 6
CALLS_PER_DEVICE = 12


def post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def deadlocks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def device(n: int) -> str:
    return f"device{n:02d}".ljust(32, "x")


def test_parallel_calls_for_one_user_on_several_devices(live_server):
    site = SiteFactory()
    url = f"{live_server.url}/api/v1/sites/{site.key}/identify"
    deadlocks_before = deadlocks()

    def run_device(n: int) -> list[int]:
        statuses = []
        for i in range(CALLS_PER_DEVICE):
            # Every device writes its own key (latest value must survive) and a shared key.
            status, _ = post(
                url,
                {
                    "visitor_id": device(n),
                    "user_id": "ABC",
                    "attributes": {f"device_{n}": i, "shared": n * 100 + i, f"k{i}": True},
                },
            )
            statuses.append(status)
        return statuses

    with ThreadPoolExecutor(max_workers=DEVICES) as pool:
        statuses = [s for result in pool.map(run_device, range(DEVICES)) for s in result]

    assert statuses == [200] * DEVICES * CALLS_PER_DEVICE
    profile = Profile.objects.get(site=site, user_id="ABC")
    values = {a.key: a.value for a in profile.attributes.all()}
    for n in range(DEVICES):
        assert values[f"device_{n}"] == CALLS_PER_DEVICE - 1
    assert values["shared"] in {n * 100 + CALLS_PER_DEVICE - 1 for n in range(DEVICES)}
    assert {k for k in values if k.startswith("k")} == {f"k{i}" for i in range(CALLS_PER_DEVICE)}
    assert Visitor.objects.filter(site=site, profile=profile).count() == DEVICES
    assert Profile.objects.filter(site=site).count() == 1
    # The catalogue counts one profile per key: no double counting under the race.
    assert set(AttributeKey.objects.filter(site=site).values_list("profile_count", flat=True)) == {
        1
    }
    assert deadlocks() == deadlocks_before


def test_parallel_first_identification_merges_every_anonymous_device(live_server):
    site = SiteFactory()
    url = f"{live_server.url}/api/v1/sites/{site.key}/identify"
    for n in range(DEVICES):
        status, _ = post(
            url, {"visitor_id": device(n), "user_id": None, "attributes": {f"anon_{n}": n}}
        )
        assert status == 200
    deadlocks_before = deadlocks()

    def identify_as_rachel(n: int) -> int:
        status, _ = post(
            url, {"visitor_id": device(n), "user_id": "rachel", "attributes": {"login": n}}
        )
        return status

    with ThreadPoolExecutor(max_workers=DEVICES) as pool:
        statuses = list(pool.map(identify_as_rachel, range(DEVICES)))

    assert statuses == [200] * DEVICES
    assert Profile.objects.filter(site=site).count() == 1
    rachel = Profile.objects.get(site=site, user_id="rachel")
    keys = set(rachel.attributes.values_list("key", flat=True))
    assert keys == {f"anon_{n}" for n in range(DEVICES)} | {"login"}
    assert AttributeValue.objects.filter(site=site).count() == DEVICES + 1
    assert deadlocks() == deadlocks_before


def test_parallel_new_users_get_exactly_one_profile_each(live_server):
    site = SiteFactory()
    url = f"{live_server.url}/api/v1/sites/{site.key}/identify"

    def call(i: int) -> int:
        # Four devices race to create each of five users.
        status, _ = post(
            url,
            {"visitor_id": device(i), "user_id": f"user-{i % 5}", "attributes": {"plan": "x"}},
        )
        return status

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(call, range(20)))

    assert statuses == [200] * 20
    assert sorted(Profile.objects.filter(site=site).values_list("user_id", flat=True)) == [
        f"user-{i}" for i in range(5)
    ]
    assert AttributeKey.objects.get(site=site, key="plan").profile_count == 5


def test_one_message_sent_many_times_at_once_is_applied_once(live_server):
    site = SiteFactory()
    url = f"{live_server.url}/api/v1/sites/{site.key}/identify"
    deadlocks_before = deadlocks()

    def send(n: int) -> tuple[int, dict]:
        # The same message id from one device, each copy with a different value: only
        # one copy may be applied, and every other one must get that copy's answer.
        return post(
            url,
            {
                "visitor_id": device(0),
                "user_id": "ABC",
                "attributes": {"copy": n, f"only_{n}": True},
                "message_id": "same-message-0000000000",
            },
        )

    with ThreadPoolExecutor(max_workers=DEVICES) as pool:
        answers = list(pool.map(send, range(DEVICES)))

    assert [status for status, _ in answers] == [200] * DEVICES
    applied = [body for _, body in answers if not body.get("duplicate")]
    assert len(applied) == 1
    stored = applied[0]["stored"]
    assert all(body["stored"] == stored for _, body in answers)
    values = {a.key: a.value for a in Profile.objects.get(site=site).attributes.all()}
    (winner,) = (n for n in range(DEVICES) if f"only_{n}" in stored)
    assert values == {"copy": winner, f"only_{winner}": True}
    assert AttributeKey.objects.filter(site=site).count() == 2
    assert deadlocks() == deadlocks_before
