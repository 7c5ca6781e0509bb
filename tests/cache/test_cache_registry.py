"""The registry services with a Redis cache: the answers are storage's answers, whether
the cache is cold, flushed, holding entries a delete made stale, or gone altogether."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis
from redis_server import RedisServer

from dockyard.digest import Digest
from dockyard.errors import BlobUnknown
from dockyard.gc.guard import GuardedBlobs
from dockyard.storage import paths
from dockyard.storage.cache.cached import CachedBlobs
from dockyard.storage.cache.redis import RedisBlobDescriptorCache, blob_key, link_key
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.driver.inmemory import InMemoryDriver
from dockyard.storage.gc import collect_garbage
from dockyard.storage.registry import StorageRegistry

CacheFactory = Callable[[], RedisBlobDescriptorCache]

REPO = "library/app"
LAYER = b"layer bytes " * 100


async def read(stream: AsyncIterator[bytes] | None) -> bytes:
    assert stream is not None
    return b"".join([chunk async for chunk in stream])


def test_redis_cached_registry_caches_repository_links(registry: StorageRegistry) -> None:
    blobs = registry.repository(REPO).blobs
    # The collection guard is outermost; the cache decorates what it guards.
    assert isinstance(blobs, GuardedBlobs)
    assert isinstance(blobs.inner, CachedBlobs)


async def test_cold_cache_answers_from_storage_and_fills_itself(
    registry: StorageRegistry, redis_client: Redis
) -> None:
    pushed = await registry.repository(REPO).blobs.put(LAYER)
    await redis_client.flushall()
    found = await registry.repository(REPO).blobs.stat(pushed.digest)
    assert (found.digest, found.size) == (pushed.digest, len(LAYER))
    assert await redis_client.exists(blob_key(pushed.digest), link_key(REPO, pushed.digest)) == 2


async def test_warm_cache_answers_without_reading_the_link(
    registry: StorageRegistry, driver: FilesystemDriver
) -> None:
    blobs = registry.repository(REPO).blobs
    pushed = await blobs.put(LAYER)
    await blobs.stat(pushed.digest)
    # Behind the registry's back, so only a cache hit can still find it.
    await driver.delete(paths.layer_dir(REPO, pushed.digest))
    assert (await blobs.stat(pushed.digest)).size == len(LAYER)


async def test_flushed_cache_answers_from_storage(
    registry: StorageRegistry, redis_client: Redis
) -> None:
    blobs = registry.repository(REPO).blobs
    pushed = await blobs.put(LAYER)
    await blobs.stat(pushed.digest)
    await redis_client.flushall()
    assert (await blobs.stat(pushed.digest)).size == len(LAYER)
    with pytest.raises(BlobUnknown):
        await registry.repository("other").blobs.stat(pushed.digest)


async def test_unlinked_blob_is_not_served_from_cache(registry: StorageRegistry) -> None:
    blobs = registry.repository(REPO).blobs
    pushed = await blobs.put(LAYER)
    await blobs.stat(pushed.digest)
    await blobs.delete(pushed.digest)
    with pytest.raises(BlobUnknown):
        await blobs.stat(pushed.digest)
    with pytest.raises(BlobUnknown):
        await blobs.open(pushed.digest)


async def test_unlink_on_another_instance_is_not_served_from_cache(
    driver: FilesystemDriver, make_redis_cache: CacheFactory
) -> None:
    first = StorageRegistry(driver, blob_descriptor_cache=make_redis_cache())
    second = StorageRegistry(driver, blob_descriptor_cache=make_redis_cache())
    pushed = await first.repository(REPO).blobs.put(LAYER)
    await first.repository(REPO).blobs.stat(pushed.digest)
    await second.repository(REPO).blobs.delete(pushed.digest)
    with pytest.raises(BlobUnknown):
        await first.repository(REPO).blobs.stat(pushed.digest)


async def test_unlink_leaves_other_repositories_linked(registry: StorageRegistry) -> None:
    pushed = await registry.repository(REPO).blobs.put(LAYER)
    await registry.repository("other").blobs.mount(pushed.digest, REPO)
    await registry.repository("other").blobs.stat(pushed.digest)
    await registry.repository(REPO).blobs.delete(pushed.digest)
    assert (await registry.repository("other").blobs.stat(pushed.digest)).size == len(LAYER)


async def test_garbage_collected_content_is_forgotten(
    registry: StorageRegistry, redis_cache: RedisBlobDescriptorCache
) -> None:
    pushed = await registry.repository(REPO).blobs.put(LAYER)
    await registry.repository(REPO).blobs.stat(pushed.digest)
    await registry.blob_store.delete(pushed.digest)
    assert await redis_cache.get(pushed.digest) is None
    with pytest.raises(BlobUnknown):
        await registry.repository(REPO).blobs.stat(pushed.digest)


async def test_content_found_gone_on_read_is_forgotten(
    make_redis_cache: CacheFactory, redis_client: Redis
) -> None:
    driver = InMemoryDriver()
    registry = StorageRegistry(driver, blob_descriptor_cache=make_redis_cache())
    blobs = registry.repository(REPO).blobs
    pushed = await blobs.put(LAYER)
    await blobs.stat(pushed.digest)
    # As an offline garbage collection that knew nothing of the cache would.
    await driver.delete(paths.blob_dir(pushed.digest))
    with pytest.raises(BlobUnknown):
        await blobs.open(pushed.digest)
    assert await redis_client.exists(blob_key(pushed.digest), link_key(REPO, pushed.digest)) == 0


async def test_completed_upload_is_found_through_the_cache(registry: StorageRegistry) -> None:
    uploads = registry.repository(REPO).uploads

    async def body() -> AsyncIterator[bytes]:
        yield LAYER

    session = await uploads.create()
    committed = await uploads.commit(session.id, Digest.of(LAYER), len(LAYER), body())
    content = await registry.repository(REPO).blobs.open(committed.digest)
    if content.file is not None:
        assert os.pread(content.file.fd, len(LAYER) + 1, 0) == LAYER
    else:
        assert await read(content.stream) == LAYER


async def test_every_operation_succeeds_with_redis_stopped(
    registry: StorageRegistry, redis_server: RedisServer
) -> None:
    blobs = registry.repository(REPO).blobs
    before = await blobs.put(LAYER)
    await blobs.stat(before.digest)
    redis_server.kill()
    assert (await blobs.stat(before.digest)).size == len(LAYER)
    after = await blobs.put(b"pushed while redis is down")
    assert (await blobs.stat(after.digest)).size == len(b"pushed while redis is down")
    content = await blobs.open(after.digest)
    assert content.file is not None or content.stream is not None
    await blobs.delete(before.digest)
    with pytest.raises(BlobUnknown):
        await blobs.stat(before.digest)


async def test_garbage_collection_clears_swept_blobs_from_the_cache(
    registry: StorageRegistry, redis_cache: RedisBlobDescriptorCache
) -> None:
    unreferenced = await registry.repository(REPO).blobs.put(LAYER)
    await registry.repository(REPO).blobs.stat(unreferenced.digest)
    assert await redis_cache.get(unreferenced.digest) is not None
    result = await collect_garbage(registry.driver, cache=redis_cache)
    assert unreferenced.digest in result.blobs_deleted
    assert await redis_cache.get(unreferenced.digest) is None
