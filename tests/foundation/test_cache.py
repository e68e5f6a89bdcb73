"""The Redis cache backend (evalplatform.cache): Django's, with one Redis client per pool."""

import os
import threading

import pytest

from evalplatform.cache import RedisCache

URL = os.environ.get("CELERY_BROKER_URL", "")


@pytest.fixture
def cache():
    if not URL.startswith("redis"):
        pytest.skip("CELERY_BROKER_URL is not Redis (make test sets it)")
    backend = RedisCache(URL, {"KEY_PREFIX": "cache-test"})
    yield backend
    backend.clear()


def test_it_stores_reads_and_deletes_through_redis(cache):
    cache.set("progress", {"done": 3}, timeout=30)
    assert cache.get("progress") == {"done": 3}
    assert cache.add("n", 1) and not cache.add("n", 5)
    assert cache.incr("n") == 2
    cache.delete("progress")
    assert cache.get("progress", "gone") == "gone"


def test_every_call_and_every_thread_share_one_client_per_pool(cache):
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(cache._cache.get_client(write=True))) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len({id(client) for client in seen}) == 1
    assert cache._cache.get_client() is seen[0]  # one server: reads and writes use the same pool
    cache.set("k", "v")  # and the shared client works
    assert cache.get("k") == "v"
