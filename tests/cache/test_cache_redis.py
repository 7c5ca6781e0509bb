"""The Redis blob-descriptor cache against a real ``redis-server``: shared entries,
invalidation, expiry, and degrading to misses whenever Redis fails."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from redis.asyncio import BlockingConnectionPool, Redis
from redis_server import RedisServer, start_redis

from dockyard.config import RedisConfig
from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.storage.cache.redis import (
    DEFAULT_TTL,
    RedisBlobDescriptorCache,
    blob_key,
    connection_pool,
    link_key,
)

CacheFactory = Callable[[], RedisBlobDescriptorCache]

LAYER = Descriptor("application/octet-stream", Digest.of(b"layer"), 5)
REPO = "library/app"


async def test_redis_cache_returns_what_was_set(redis_cache: RedisBlobDescriptorCache) -> None:
    await redis_cache.set(LAYER)
    assert await redis_cache.get(LAYER.digest) == LAYER


async def test_redis_cache_misses_an_unknown_digest(redis_cache: RedisBlobDescriptorCache) -> None:
    assert await redis_cache.get(LAYER.digest) is None


async def test_redis_cache_clear_forgets_the_digest(redis_cache: RedisBlobDescriptorCache) -> None:
    await redis_cache.set(LAYER)
    await redis_cache.clear(LAYER.digest)
    assert await redis_cache.get(LAYER.digest) is None


async def test_redis_cache_entries_are_shared_by_instances(
    make_redis_cache: CacheFactory,
) -> None:
    await make_redis_cache().repository(REPO).set(LAYER)
    assert await make_redis_cache().repository(REPO).get(LAYER.digest) == LAYER


async def test_redis_repository_entry_needs_the_link_not_just_the_descriptor(
    redis_cache: RedisBlobDescriptorCache,
) -> None:
    await redis_cache.set(LAYER)
    assert await redis_cache.repository(REPO).get(LAYER.digest) is None


async def test_redis_repository_clear_forgets_only_that_repositorys_link(
    redis_cache: RedisBlobDescriptorCache,
) -> None:
    await redis_cache.repository(REPO).set(LAYER)
    await redis_cache.repository("other").set(LAYER)
    await redis_cache.repository(REPO).clear(LAYER.digest)
    assert await redis_cache.repository(REPO).get(LAYER.digest) is None
    assert await redis_cache.repository("other").get(LAYER.digest) == LAYER


async def test_redis_clearing_the_descriptor_ends_every_repository_hit(
    redis_cache: RedisBlobDescriptorCache,
) -> None:
    await redis_cache.repository(REPO).set(LAYER)
    await redis_cache.clear(LAYER.digest)
    assert await redis_cache.repository(REPO).get(LAYER.digest) is None


async def test_redis_entries_expire(
    redis_cache: RedisBlobDescriptorCache, redis_client: Redis
) -> None:
    await redis_cache.repository(REPO).set(LAYER)
    ttl = DEFAULT_TTL.total_seconds()
    assert 0 < await redis_client.ttl(blob_key(LAYER.digest)) <= ttl
    assert 0 < await redis_client.ttl(link_key(REPO, LAYER.digest)) <= ttl


async def test_redis_garbled_entry_is_a_miss(
    redis_cache: RedisBlobDescriptorCache, redis_client: Redis
) -> None:
    await redis_client.hset(blob_key(LAYER.digest), mapping={"mediatype": "x", "size": "many"})
    assert await redis_cache.get(LAYER.digest) is None


async def test_redis_stopped_get_is_a_quick_miss(
    redis_cache: RedisBlobDescriptorCache, redis_server: RedisServer
) -> None:
    await redis_cache.set(LAYER)
    redis_server.kill()
    started = time.monotonic()
    assert await redis_cache.get(LAYER.digest) is None
    assert await redis_cache.repository(REPO).get(LAYER.digest) is None
    assert time.monotonic() - started < 1.0


async def test_redis_stopped_set_and_clear_do_not_raise(
    redis_cache: RedisBlobDescriptorCache, redis_server: RedisServer
) -> None:
    redis_server.kill()
    await redis_cache.set(LAYER)
    await redis_cache.repository(REPO).set(LAYER)
    await redis_cache.clear(LAYER.digest)
    await redis_cache.repository(REPO).clear(LAYER.digest)


async def test_redis_failures_are_logged_once_per_interval(
    redis_cache: RedisBlobDescriptorCache,
    redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    redis_cache.backoff = 0
    redis_server.kill()
    with caplog.at_level(logging.WARNING, logger="dockyard.storage.cache.redis"):
        for _ in range(20):
            await redis_cache.get(LAYER.digest)
    assert len(caplog.records) == 1
    assert "serving from storage" in caplog.records[0].getMessage()


async def test_redis_cache_recovers_when_redis_is_back(
    redis_cache: RedisBlobDescriptorCache, redis_server: RedisServer
) -> None:
    redis_cache.backoff = 0
    redis_server.kill()
    assert await redis_cache.get(LAYER.digest) is None
    redis_server.start()
    await redis_cache.set(LAYER)
    assert await redis_cache.get(LAYER.digest) == LAYER


async def test_redis_cache_skips_redis_for_the_backoff_after_a_failure(
    redis_cache: RedisBlobDescriptorCache, redis_server: RedisServer
) -> None:
    redis_cache.backoff = 60
    redis_server.kill()
    assert await redis_cache.get(LAYER.digest) is None
    redis_server.start()
    await redis_cache.set(LAYER)
    assert await redis_cache.get(LAYER.digest) is None


async def test_redis_invalidation_is_attempted_during_the_backoff(
    make_redis_cache: CacheFactory, redis_server: RedisServer, redis_client: Redis
) -> None:
    cache = make_redis_cache()
    cache.backoff = 60
    redis_server.kill()
    await cache.get(LAYER.digest)
    redis_server.start()
    await make_redis_cache().set(LAYER)
    await cache.clear(LAYER.digest)
    assert await redis_client.exists(blob_key(LAYER.digest)) == 0


def test_redis_pool_is_a_blocking_pool_with_the_configured_limits() -> None:
    pool = connection_pool(
        RedisConfig(
            addr="127.0.0.1:6390",
            db=3,
            password="hunter2",
            dialtimeout=timedelta(milliseconds=200),
            readtimeout=timedelta(milliseconds=300),
            writetimeout=timedelta(milliseconds=100),
            pool_maxactive=7,
        )
    )
    assert isinstance(pool, BlockingConnectionPool)
    assert pool.max_connections == 7
    assert pool.timeout == pytest.approx(0.2)
    kwargs = pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("127.0.0.1", 6390, 3)
    assert kwargs["socket_connect_timeout"] == pytest.approx(0.2)
    assert kwargs["socket_timeout"] == pytest.approx(0.3)


async def test_redis_cache_uses_the_configured_database(
    redis_server: RedisServer, redis_client: Redis
) -> None:
    cache = RedisBlobDescriptorCache.from_config(RedisConfig(addr=redis_server.addr, db=2))
    database_2 = Redis(host="127.0.0.1", port=redis_server.port, db=2)
    try:
        await cache.set(LAYER)
        assert await redis_client.exists(blob_key(LAYER.digest)) == 0
        assert await database_2.exists(blob_key(LAYER.digest)) == 1
    finally:
        await cache.close()
        await database_2.aclose()


async def test_redis_cache_authenticates_with_the_configured_password(tmp_path: Path) -> None:
    with start_redis(tmp_path / "secured", password="s3cret-redis-pass") as server:
        cache = RedisBlobDescriptorCache.from_config(
            RedisConfig(addr=server.addr, password="s3cret-redis-pass")
        )
        try:
            await cache.set(LAYER)
            assert await cache.get(LAYER.digest) == LAYER
        finally:
            await cache.close()


async def test_redis_wrong_password_degrades_without_logging_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with start_redis(tmp_path / "secured", password="the-right-one") as server:
        cache = RedisBlobDescriptorCache.from_config(
            RedisConfig(addr=server.addr, password="a-wrong-password")
        )
        try:
            with caplog.at_level(logging.DEBUG, logger="dockyard.storage.cache.redis"):
                await cache.set(LAYER)
                assert await cache.get(LAYER.digest) is None
        finally:
            await cache.close()
    assert caplog.records
    assert all("a-wrong-password" not in record.getMessage() for record in caplog.records)


async def test_redis_hung_server_times_out_into_a_miss(
    redis_server: RedisServer,
) -> None:
    cache = RedisBlobDescriptorCache.from_config(
        RedisConfig(
            addr=redis_server.addr,
            dialtimeout=timedelta(milliseconds=300),
            readtimeout=timedelta(milliseconds=300),
        )
    )
    try:
        await cache.set(LAYER)
        redis_server.pause()
        started = time.monotonic()
        assert await cache.get(LAYER.digest) is None
        # The back-off spares the next requests the wait.
        assert await cache.repository(REPO).get(LAYER.digest) is None
        assert time.monotonic() - started < 1.5
    finally:
        redis_server.resume()
        await cache.close()


async def test_redis_pool_limit_makes_concurrent_requests_wait_not_fail(
    redis_server: RedisServer,
) -> None:
    cache = RedisBlobDescriptorCache.from_config(
        RedisConfig(addr=redis_server.addr, pool_maxactive=2)
    )
    try:
        await cache.set(LAYER)
        answers = await asyncio.gather(*(cache.get(LAYER.digest) for _ in range(50)))
        assert answers == [LAYER] * 50
    finally:
        await cache.close()
