"""Rate limits hold under concurrent bursts: the counter is atomic in the shared cache
(Redis in production, local memory in the embedded default)."""

import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import caches
from django.test import override_settings

from tests.clock import clear_of_utc_midnight
from tests.factories import SiteFactory
from tests.redis_server import redis_available

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 40
BURST = 100
REDIS_URL = "redis://127.0.0.1:6379/15"


BACKENDS = {
    "locmem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "redis": {"BACKEND": "apps.common.cache.RedisCache", "LOCATION": REDIS_URL},
}


def call(url: str, i: int) -> tuple[int, str | None]:
    # The widget decision only reads, so every call under the limit can answer 200.
    request = urllib.request.Request(f"{url}?visitor_id={f'burst{i}'.ljust(32, 'x')}&url=/")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, None
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Retry-After")


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_burst_gets_exactly_the_limit(live_server, backend):
    if backend == "redis" and not redis_available():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    with override_settings(
        CACHES={"default": BACKENDS[backend]},
        # A day-long window, so the burst cannot straddle two windows.
        COHORT_THROTTLE_PER_CLIENT=f"{LIMIT}/day",
    ):
        clear_of_utc_midnight()
        caches["default"].clear()
        site = SiteFactory()
        url = f"{live_server.url}/api/v1/sites/{site.key}/widgets"
        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(lambda i: call(url, i), range(BURST)))
        caches["default"].clear()

    statuses = [status for status, _ in results]
    print(
        f"throttle burst ({backend}): {statuses.count(200)} accepted, {statuses.count(429)} refused"
    )
    assert statuses.count(200) == LIMIT
    assert statuses.count(429) == BURST - LIMIT
    assert all(int(retry) >= 1 for status, retry in results if status == 429)
