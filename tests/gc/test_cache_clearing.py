"""Every swept digest leaves the blob descriptor cache, registry-wide and per repository,
in a Redis that every instance shares."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis_server import RedisServer, redis_server
from storage_helpers import push_blob

from dockyard.config import RedisConfig
from dockyard.errors import BlobUnknown
from dockyard.storage.cache.redis import RedisBlobDescriptorCache
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.gc import collect_garbage
from dockyard.storage.registry import StorageRegistry

__all__ = ["redis_server"]


@pytest.fixture
async def caches(redis_server: RedisServer) -> AsyncIterator[list[RedisBlobDescriptorCache]]:
    """Two caches on one Redis: one instance serving, one collecting."""
    opened = [
        RedisBlobDescriptorCache.from_config(RedisConfig(addr=redis_server.addr)) for _ in range(2)
    ]
    yield opened
    for cache in opened:
        await cache.close()


async def test_swept_blob_is_forgotten_by_every_instance_sharing_the_redis_cache(
    tmp_path: Path, caches: list[RedisBlobDescriptorCache]
) -> None:
    serving, collecting = caches
    driver = FilesystemDriver(tmp_path / "root")
    registry = StorageRegistry(driver, blob_descriptor_cache=serving)
    repo = registry.repository("app")
    orphan = await push_blob(repo, b"an orphan the cache knows")
    await repo.blobs.stat(orphan.digest)
    assert await serving.get(orphan.digest) is not None
    scoped = serving.repository("app")
    assert scoped is not None
    assert await scoped.get(orphan.digest) is not None

    result = await collect_garbage(driver, cache=collecting)
    assert result.blobs_deleted == [orphan.digest]
    assert await serving.get(orphan.digest) is None
    assert await scoped.get(orphan.digest) is None
    with pytest.raises(BlobUnknown):
        await repo.blobs.stat(orphan.digest)
    await driver.close()
