"""Fixtures of the cache tests: a real Redis, caches on it, registries using them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis_server import RedisServer, redis_server

from dockyard.config import RedisConfig
from dockyard.storage.cache.redis import RedisBlobDescriptorCache
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.registry import StorageRegistry

__all__ = ["redis_server"]

CacheFactory = Callable[[], RedisBlobDescriptorCache]


@pytest.fixture
async def make_redis_cache(
    redis_server: RedisServer,
) -> AsyncIterator[CacheFactory]:
    """Open caches on the test's Redis (as separate instances would); closed afterwards."""
    opened: list[RedisBlobDescriptorCache] = []

    def make() -> RedisBlobDescriptorCache:
        cache = RedisBlobDescriptorCache.from_config(RedisConfig(addr=redis_server.addr))
        opened.append(cache)
        return cache

    yield make
    for cache in opened:
        await cache.close()


@pytest.fixture
def redis_cache(make_redis_cache: CacheFactory) -> RedisBlobDescriptorCache:
    return make_redis_cache()


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """A plain client to look at (or flush) what the cache stored."""
    client = Redis(host="127.0.0.1", port=redis_server.port)
    yield client
    await client.aclose()


@pytest.fixture
async def driver(tmp_path: Path) -> AsyncIterator[FilesystemDriver]:
    driver = FilesystemDriver(tmp_path / "root")
    yield driver
    await driver.close()


@pytest.fixture
def registry(driver: FilesystemDriver, redis_cache: RedisBlobDescriptorCache) -> StorageRegistry:
    """The registry services over a filesystem root, cached in Redis."""
    return StorageRegistry(driver, blob_descriptor_cache=redis_cache)
