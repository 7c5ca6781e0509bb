"""The in-memory blob-descriptor cache: bounded, least recently used first out."""

from __future__ import annotations

import pytest

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.errors import BlobUnknown
from dockyard.storage.blobs import GlobalBlobStore, LinkedBlobStore
from dockyard.storage.cache.cached import cached_blobs
from dockyard.storage.cache.memory import DEFAULT_SIZE, MemoryBlobDescriptorCache
from dockyard.storage.driver.inmemory import InMemoryDriver
from dockyard.storage.registry import StorageRegistry


def descriptor(n: int) -> Descriptor:
    return Descriptor("application/octet-stream", Digest.of(str(n).encode()), n)


async def test_memory_cache_returns_what_was_set() -> None:
    cache = MemoryBlobDescriptorCache(4)
    await cache.set(descriptor(1))
    assert await cache.get(descriptor(1).digest) == descriptor(1)


async def test_memory_cache_misses_an_unknown_digest() -> None:
    assert await MemoryBlobDescriptorCache(4).get(descriptor(1).digest) is None


async def test_memory_cache_never_holds_more_than_its_size() -> None:
    cache = MemoryBlobDescriptorCache(3)
    for n in range(100):
        await cache.set(descriptor(n))
    assert len(cache) == 3
    assert [await cache.get(descriptor(n).digest) for n in (97, 98, 99)] == [
        descriptor(97),
        descriptor(98),
        descriptor(99),
    ]


async def test_memory_cache_evicts_the_least_recently_used_entry() -> None:
    cache = MemoryBlobDescriptorCache(2)
    await cache.set(descriptor(1))
    await cache.set(descriptor(2))
    await cache.get(descriptor(1).digest)
    await cache.set(descriptor(3))
    assert await cache.get(descriptor(2).digest) is None
    assert await cache.get(descriptor(1).digest) == descriptor(1)


async def test_memory_cache_clear_forgets_the_digest() -> None:
    cache = MemoryBlobDescriptorCache(4)
    await cache.set(descriptor(1))
    await cache.clear(descriptor(1).digest)
    assert await cache.get(descriptor(1).digest) is None


async def test_memory_cache_size_defaults_to_ten_thousand() -> None:
    assert MemoryBlobDescriptorCache().size == DEFAULT_SIZE == 10000


def test_memory_cache_refuses_a_size_below_one() -> None:
    with pytest.raises(ValueError, match="at least one"):
        MemoryBlobDescriptorCache(0)


def test_memory_cache_does_not_cache_repository_links() -> None:
    cache = MemoryBlobDescriptorCache(4)
    assert cache.repository("library/app") is None
    blobs = LinkedBlobStore("library/app", GlobalBlobStore(InMemoryDriver(), cache))
    assert cached_blobs("library/app", blobs, cache) is blobs


async def test_memory_cached_registry_answers_unlinked_blob_as_unknown() -> None:
    registry = StorageRegistry(InMemoryDriver(), blob_descriptor_cache=MemoryBlobDescriptorCache())
    blobs = registry.repository("library/app").blobs
    pushed = await blobs.put(b"layer")
    assert (await blobs.stat(pushed.digest)).size == 5
    await blobs.delete(pushed.digest)
    with pytest.raises(BlobUnknown):
        await blobs.stat(pushed.digest)


async def test_memory_cached_registry_forgets_content_deleted_by_gc() -> None:
    cache = MemoryBlobDescriptorCache()
    registry = StorageRegistry(InMemoryDriver(), blob_descriptor_cache=cache)
    pushed = await registry.repository("library/app").blobs.put(b"layer")
    await registry.blob_store.stat(pushed.digest)
    await registry.blob_store.delete(pushed.digest)
    assert await cache.get(pushed.digest) is None
