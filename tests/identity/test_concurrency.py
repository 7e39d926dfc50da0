"""Parallel identify calls against a live server on PostgreSQL: no lost key, one profile per
user id, no deadlock, also when devices switch users or merge at the same moment."""

import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import OperationalError, connection, connections

from apps.accounts.services import api_token_create
from apps.common.sql import table
from apps.identity.models import Profile, Visitor
from apps.identity.services import PEOPLE_DELETION_LOCK, person_delete, visitor_identify
from apps.user_attributes.models import AttributeKey, AttributeValue
from apps.user_attributes.services import NEW_KEYS_LOCK, attribute_key_delete
from apps.user_attributes.validation import MAX_KEYS_PER_SITE
from tests.factories import SiteFactory
from tests.locks import held_elsewhere, wait_until_blocked_by

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("on_postgres")]

DEVICES = 6
CALLS_PER_DEVICE = 12
ROUNDS = 12


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
    body = {
        "visitor_id": device(0),
        "user_id": "ABC",
        "attributes": {"copy": 1, "only": True},
        "message_id": "same-message-0000000000",
    }

    with ThreadPoolExecutor(max_workers=DEVICES) as pool:
        answers = list(pool.map(lambda _: post(url, body), range(DEVICES)))

    assert [status for status, _ in answers] == [200] * DEVICES
    assert len([body for _, body in answers if not body.get("duplicate")]) == 1
    assert all(body["stored"] == ["copy", "only"] for _, body in answers)
    values = {a.key: a.value for a in Profile.objects.get(site=site).attributes.all()}
    assert values == {"copy": 1, "only": True}
    assert AttributeKey.objects.filter(site=site).count() == 2
    assert deadlocks() == deadlocks_before


def test_calls_racing_with_one_message_id_and_different_values_apply_one(live_server):
    site = SiteFactory()
    url = f"{live_server.url}/api/v1/sites/{site.key}/identify"
    deadlocks_before = deadlocks()

    def send(n: int) -> tuple[int, dict]:
        # Each copy with a different value: only one may be applied, and every other one
        # is refused (taken for a retry, it would be dropped with a success).
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

    assert sorted(status for status, _ in answers) == [200] + [409] * (DEVICES - 1)
    ((_, applied),) = [(status, body) for status, body in answers if status == 200]
    assert "duplicate" not in applied
    assert all(body["code"] == "message_id_conflict" for status, body in answers if status == 409)
    values = {a.key: a.value for a in Profile.objects.get(site=site).attributes.all()}
    (winner,) = (n for n in range(DEVICES) if f"only_{n}" in applied["stored"])
    assert values == {"copy": winner, f"only_{winner}": True}
    assert AttributeKey.objects.filter(site=site).count() == 2
    assert deadlocks() == deadlocks_before


def test_switching_a_device_to_another_user_does_not_wait_for_the_previous_users_profile():
    """Another transaction holding the previous user's profile (that user's own identify
    call, say) must not hold up a device that moves on to a different user: waiting there
    is what let two devices switching between two users in opposite directions deadlock."""
    site = SiteFactory()
    visitor_identify(site=site, visitor_id=device(0), user_id="A", attributes={"plan": "free"})
    previous = Profile.objects.get(site=site, user_id="A")
    lock = f"SELECT id FROM {Profile._meta.db_table} WHERE id = %s FOR UPDATE"
    with held_elsewhere(lock, [previous.pk]):
        answer = visitor_identify(
            site=site, visitor_id=device(0), user_id="B", attributes={"plan": "pro"}
        )

    assert answer["stored"] == ["plan"]
    visitor = Visitor.objects.get(site=site, visitor_id=device(0))
    assert visitor.profile.user_id == "B"
    assert {a.key: a.value for a in previous.attributes.all()} == {"plan": "free"}


def race(url: str, bodies: list[dict]) -> list[int]:
    """Post the bodies at the same moment, one thread each: their statuses."""
    barrier = threading.Barrier(len(bodies))

    def send(body: dict) -> int:
        barrier.wait()
        return post(url, body)[0]

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(send, bodies))


def test_devices_switching_between_two_users_in_opposite_directions(live_server):
    site = SiteFactory()
    url = f"{live_server.url}/api/v1/sites/{site.key}/identify"
    assert post(url, {"visitor_id": device(0), "user_id": "A", "attributes": {}})[0] == 200
    assert post(url, {"visitor_id": device(1), "user_id": "B", "attributes": {}})[0] == 200
    deadlocks_before = deadlocks()

    statuses = []
    for round_ in range(ROUNDS):
        # Device 0 moves to the user device 1 is leaving, and the other way round.
        users = ("B", "A") if round_ % 2 == 0 else ("A", "B")
        statuses += race(
            url,
            [
                {"visitor_id": device(n), "user_id": user, "attributes": {"r": round_}}
                for n, user in enumerate(users)
            ],
        )

    assert statuses == [200] * 2 * ROUNDS
    assert Profile.objects.filter(site=site).count() == 2
    assert AttributeKey.objects.get(site=site, key="r").profile_count == 2
    assert deadlocks() == deadlocks_before


def test_first_identifications_racing_anonymous_calls_with_the_same_keys(live_server):
    """A merge lowers the count of a key both profiles held (c) while the call stores
    another (b); an anonymous call on another device raises both counts at the same time.
    Two catalogue writes in one transaction (c, then b) against one in key order (b, c)
    would wait on each other."""
    site = SiteFactory()
    url = f"{live_server.url}/api/v1/sites/{site.key}/identify"
    keys = ["a", "b", "c"]
    deadlocks_before = deadlocks()

    statuses = []
    for round_ in range(ROUNDS):
        user, merging, anonymous = f"user-{round_}", device(2 * round_), device(2 * round_ + 1)
        for body in (
            {"visitor_id": device(99), "user_id": user, "attributes": {"c": 1}},
            {"visitor_id": merging, "user_id": None, "attributes": {"a": 2, "c": 2}},
        ):
            assert post(url, body)[0] == 200
        statuses += race(
            url,
            [
                {"visitor_id": merging, "user_id": user, "attributes": {"b": 3}},
                {"visitor_id": anonymous, "user_id": None, "attributes": dict.fromkeys(keys, 4)},
            ],
        )

    assert statuses == [200] * 2 * ROUNDS
    # Each round leaves one user and one anonymous profile, each holding every key.
    counts = dict(AttributeKey.objects.filter(site=site).values_list("key", "profile_count"))
    assert counts == dict.fromkeys(keys, 2 * ROUNDS)
    assert deadlocks() == deadlocks_before


def test_calls_racing_for_a_sites_last_free_key_never_pass_the_limit(live_server):
    """Six devices bring six new keys at once to a site with room for one: each call that
    counted the catalogue before another's commit would see room for its own key."""
    statuses = []
    for _ in range(4):
        site = SiteFactory()
        url = f"{live_server.url}/api/v1/sites/{site.key}/identify"
        filled = {f"k{i}": i for i in range(MAX_KEYS_PER_SITE - 1)}
        assert post(url, {"visitor_id": device(99), "user_id": "u", "attributes": filled})[0] == 200
        statuses += race(
            url,
            [
                {"visitor_id": device(n), "user_id": f"user-{n}", "attributes": {f"new_{n}": n}}
                for n in range(6)
            ],
        )

        assert AttributeKey.objects.filter(site=site).count() == MAX_KEYS_PER_SITE
        assert AttributeValue.objects.filter(site=site, key__startswith="new_").count() == 1
    assert statuses == [200] * 6 * 4


def test_a_full_site_refuses_new_keys_without_waiting_for_its_lock(live_server):
    """A site at 100 keys whose script keeps sending new ones: those calls do not queue
    behind the site's lock for new keys, which only calls that may add a key take."""
    site = SiteFactory()
    full = {f"k{i}": i for i in range(MAX_KEYS_PER_SITE)}
    visitor_identify(site=site, visitor_id=device(0), user_id="u", attributes=full)
    with held_elsewhere("SELECT pg_advisory_xact_lock(%s, %s)", [NEW_KEYS_LOCK, site.pk]):
        answer = visitor_identify(
            site=site, visitor_id=device(1), user_id="v", attributes={"k0": 1, "brand_new": 1}
        )

    assert answer["stored"] == ["k0"]
    assert answer["rejected"] == {"brand_new": "site_key_limit_reached"}


def _copy_value_sql() -> str:
    """An INSERT of profile `%s`'s copy of the value with id `%s` (a new profile storing
    the same key)."""
    columns = [f.column for f in AttributeValue._meta.concrete_fields if f.column != "id"]
    chosen = ", ".join("%s" if c == "profile_id" else c for c in columns)
    return (
        f"INSERT INTO {table(AttributeValue)} ({', '.join(columns)}) "
        f"SELECT {chosen} FROM {table(AttributeValue)} WHERE id = %s"
    )


@pytest.mark.parametrize("call", ["updates a stored value", "stores it for a new profile"])
def test_removing_a_key_never_deadlocks_and_leaves_no_value_behind(call):
    """An identify call (and a person's deletion) writes a key's value, then its catalogue
    row. A removal of the key that starts in between must wait for that call, not hold the
    row the call needs next while waiting for the value the call holds; and a value the
    call committed meanwhile goes too."""
    site = SiteFactory()
    visitor_identify(site=site, visitor_id=device(0), user_id="u", attributes={"plan": "free"})
    visitor_identify(site=site, visitor_id=device(1), user_id="v", attributes={})
    stored = AttributeValue.objects.get(site=site, key="plan")
    newcomer = Profile.objects.get(site=site, user_id="v")
    values, keys = table(AttributeValue), table(AttributeKey)
    row = f"UPDATE {keys} SET profile_count = profile_count + 1 WHERE site_id = %s AND key = 'plan'"
    if call == "updates a stored value":
        before = [(f"UPDATE {values} SET string_value = 'pro' WHERE id = %s", [stored.pk])]
        after = [(row, [site.pk])]
    else:
        before = [(_copy_value_sql(), [newcomer.pk, stored.pk]), (row, [site.pk])]
        after = []
    other = connection.get_new_connection(connection.get_connection_params())
    removal: dict = {}

    def remove() -> None:
        try:
            removal["deleted"] = attribute_key_delete(site=site, key="plan")
        except Exception as error:  # the deadlock's victim, when it is this side
            removal["error"] = error
        finally:
            connections.close_all()

    try:
        with other.cursor() as cursor:
            for sql, params in before:
                cursor.execute(sql, params)
            remover = threading.Thread(target=remove)
            remover.start()
            wait_until_blocked_by(other)  # the removal now waits for the call
            for sql, params in after:
                cursor.execute(sql, params)
        other.commit()
    finally:
        other.close()
    remover.join(10)

    assert "error" not in removal, removal
    assert not AttributeValue.objects.filter(site=site).exists()
    assert not AttributeKey.objects.filter(site=site).exists()


def test_a_device_joined_while_a_deletion_waits_is_deleted_and_counted(owner):
    """A call that joins a device to the person while the deletion waits for the person's
    profile: the device goes with the rest, and the receipt counts it."""
    site = SiteFactory()
    visitor_identify(site=site, visitor_id=device(0), user_id="u", attributes={"plan": "a"})
    visitor_identify(site=site, visitor_id=device(1), user_id=None, attributes={})
    profile = Profile.objects.get(site=site, user_id="u")
    call = connection.get_new_connection(connection.get_connection_params())
    deletion: dict = {}

    def delete() -> None:
        try:
            deletion["audit"] = person_delete(
                site=site, user_id="u", email=None, requested_by=owner, channel="api"
            )
        finally:
            connections.close_all()

    try:
        with call.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {table(Profile)} WHERE id = %s FOR UPDATE", [profile.pk]
            )
            deleter = threading.Thread(target=delete)
            deleter.start()
            wait_until_blocked_by(call)  # the deletion holds device 0, waits for the profile
            cursor.execute(
                f"UPDATE {table(Visitor)} SET profile_id = %s WHERE site_id = %s "
                "AND visitor_id = %s",
                [profile.pk, site.pk, device(1)],
            )
        call.commit()
    finally:
        call.close()
    deleter.join(10)

    assert not Visitor.objects.filter(site=site).exists()
    assert deletion["audit"].deleted_counts["visitors"] == 2


def test_deletions_of_a_sites_people_take_turns(owner):
    """A deletion that found a device joined to its person late locks it out of order; a
    second deletion holding that device already would deadlock with it. They wait for one
    another instead (here, for one that is still running elsewhere)."""
    site = SiteFactory()
    visitor_identify(site=site, visitor_id=device(0), user_id="u", attributes={"plan": "a"})

    with (
        held_elsewhere("SELECT pg_advisory_xact_lock(%s, %s)", [PEOPLE_DELETION_LOCK, site.pk]),
        pytest.raises(OperationalError, match="lock timeout"),
    ):
        person_delete(site=site, user_id="u", email=None, requested_by=owner, channel="api")
    assert Profile.objects.filter(site=site, user_id="u").exists()

    person_delete(site=site, user_id="u", email=None, requested_by=owner, channel="api")
    assert not Profile.objects.filter(site=site).exists()


def test_a_call_rolled_back_by_a_deadlock_is_answered_as_one_to_retry(live_server, owner):
    """A deletion chosen as a deadlock's victim: 503 `concurrent_change`, to be sent again,
    not "cannot reach its database"; nothing of it is applied."""
    site = SiteFactory(account=owner.memberships.get().account)
    _, token = api_token_create(account=site.account, user=owner, name="privacy")
    visitor_identify(site=site, visitor_id=device(0), user_id="u", attributes={"plan": "a"})
    profile = Profile.objects.get(site=site, user_id="u")
    other = connection.get_new_connection(connection.get_connection_params())
    answer: dict = {}

    def delete() -> None:
        request = urllib.request.Request(
            f"{live_server.url}/api/v1/sites/{site.key}/lookup?user_id=u",
            headers={"Authorization": f"Bearer {token}"},
            method="DELETE",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                answer["status"] = response.status
        except urllib.error.HTTPError as error:
            answer["status"], answer["body"] = error.code, json.loads(error.read())
            answer["retry"] = error.headers.get("Retry-After")

    try:
        with other.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {table(Profile)} WHERE id = %s FOR UPDATE", [profile.pk]
            )
            deleter = threading.Thread(target=delete)
            deleter.start()
            wait_until_blocked_by(other)  # the deletion holds the device, waits for the profile
            # Waiting longer than the deletion, this side outlasts it: PostgreSQL rolls back
            # the transaction whose deadlock check runs first.
            cursor.execute(
                f"SELECT id FROM {table(Visitor)} WHERE site_id = %s FOR UPDATE", [site.pk]
            )
        other.rollback()
    finally:
        other.close()
    deleter.join(10)

    assert answer["status"] == 503, answer
    assert answer["body"]["code"] == "concurrent_change"
    assert answer["retry"] == "1"
    assert Profile.objects.filter(site=site, user_id="u").exists()
