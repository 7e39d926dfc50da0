"""The Redis cache backend the app runs on: Django's, without two costs of the hot path.

- Django builds a new redis client object for every cache call, which spends about
  0.1 ms filling the client's table of command callbacks each time; a widget decision
  makes four cache calls. Here each connection pool has one client, reused (redis-py
  clients are safe to share between threads).
- Django's `incr` asks whether the key exists and then increments it: two round trips
  for every rate-limit count. Here one server-side script does both, atomically, and
  keeps Django's contract (ValueError for a missing key); and `incr_windows` adds to all
  of a process's rate-limit counters in one round trip.

`CACHE_URL=redis://…` selects this backend (config/settings/base.py).
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient

_INCR_IF_EXISTS = (
    "if redis.call('EXISTS', KEYS[1]) == 1 then "
    "return redis.call('INCRBY', KEYS[1], ARGV[1]) end return false"
)


# ARGV holds each key's hits, then its timeout. A counter whose count equals the hits just
# added was created by them: it gets its timeout.
_INCR_WINDOWS = (
    "local counts = {} "
    "for i, key in ipairs(KEYS) do "
    "local hits = tonumber(ARGV[2 * i - 1]) "
    "local n = redis.call('INCRBY', key, hits) "
    "if n == hits then redis.call('EXPIRE', key, ARGV[2 * i]) end "
    "counts[i] = n end "
    "return counts"
)


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, servers, **options):
        super().__init__(servers, **options)
        self._clients = {}
        self._scripts = {}

    def _script(self, client, text: str):
        script = self._scripts.get((id(client), text))
        if script is None:
            script = self._scripts[(id(client), text)] = client.register_script(text)
        return script

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client

    def incr(self, key, delta):
        client = self.get_client(key, write=True)
        value = self._script(client, _INCR_IF_EXISTS)(keys=[key], args=[delta])
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return value

    def incr_windows(self, keys: list[str], args: list[int]) -> list[int]:
        client = self.get_client(keys[0], write=True)
        return self._script(client, _INCR_WINDOWS)(keys=keys, args=args)


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient

    def incr_windows(self, windows: list[tuple[str, int, int]]) -> list[int]:
        """Add hits to each (key, hits, timeout) counter, a missing one starting at its
        hits with that timeout: atomic per counter, one round trip for all (rate-limit
        windows). Each counter's count after the addition."""
        keys = [self.make_and_validate_key(key) for key, _, _ in windows]
        args = [value for _, hits, timeout in windows for value in (hits, timeout)]
        return self._cache.incr_windows(keys, args)
