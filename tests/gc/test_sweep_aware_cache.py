"""An instance's in-memory blob descriptor cache forgets what any collection swept, from
the sweep journals in storage: another driver on the same root plays the other instance.

A cache uses one look at the collections' folder for up to ``LOOK_SECONDS``; where a test
changes that folder by hand, it waits that long before the next answer (a collection
itself waits that long before it condemns anything).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from storage_helpers import push_blob

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.gc.cache import SweepAwareCache, sweep_aware
from dockyard.gc.journal import KEEP, LOOK_SECONDS, collections, write_journal
from dockyard.storage import paths
from dockyard.storage.cache.memory import MemoryBlobDescriptorCache
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.driver.inmemory import InMemoryDriver
from dockyard.storage.gc import collect_garbage
from dockyard.storage.registry import StorageRegistry


@pytest.fixture
async def instances(tmp_path: Path) -> AsyncIterator[tuple[FilesystemDriver, FilesystemDriver]]:
    """Two drivers on one root, each with its own memory of small reads: two instances."""
    serving, collecting = (FilesystemDriver(tmp_path / "root") for _ in range(2))
    yield serving, collecting
    await serving.close()
    await collecting.close()


def _cache(driver: FilesystemDriver) -> SweepAwareCache:
    cache = sweep_aware(MemoryBlobDescriptorCache(), driver)
    assert isinstance(cache, SweepAwareCache)
    return cache


async def _look_again() -> None:
    """Let the cache's look expire, as it does before a collection condemns anything."""
    await asyncio.sleep(LOOK_SECONDS)


async def _remember(cache: SweepAwareCache, digest: Digest) -> None:
    assert await cache.get(digest) is None
    await cache.set(Descriptor(media_type="application/octet-stream", digest=digest, size=1))
    assert await cache.get(digest) is not None


async def test_blob_another_instance_swept_is_forgotten_before_the_next_answer(
    instances: tuple[FilesystemDriver, FilesystemDriver],
) -> None:
    serving, collecting = instances
    cache = _cache(serving)
    registry = StorageRegistry(serving, blob_descriptor_cache=cache)
    orphan = await push_blob(registry.repository("app"), b"remembered, then swept")
    await _remember(cache, orphan.digest)
    result = await collect_garbage(collecting)
    assert result.blobs_deleted == [orphan.digest]
    assert await cache.get(orphan.digest) is None


async def test_blob_a_collection_kept_stays_remembered(
    instances: tuple[FilesystemDriver, FilesystemDriver],
) -> None:
    serving, collecting = instances
    cache = _cache(serving)
    registry = StorageRegistry(serving, blob_descriptor_cache=cache)
    orphan = await push_blob(registry.repository("app"), b"swept")
    kept = Digest.of(b"not swept")
    await _remember(cache, kept)
    await collect_garbage(collecting)
    assert await cache.get(kept) is not None
    assert await cache.get(orphan.digest) is None


async def test_nothing_is_answered_from_memory_once_a_look_sees_a_collection_running(
    instances: tuple[FilesystemDriver, FilesystemDriver],
) -> None:
    serving, collecting = instances
    cache = _cache(serving)
    digest = Digest.of(b"remembered")
    await _remember(cache, digest)
    await collecting.put_content(paths.gc_marker("running"), b"")
    await _look_again()
    assert await cache.get(digest) is None
    await collecting.delete(paths.gc_marker("running"))
    await _look_again()
    assert await cache.get(digest) is not None


async def test_descriptor_read_before_a_journal_was_applied_is_not_kept(
    instances: tuple[FilesystemDriver, FilesystemDriver],
) -> None:
    serving, collecting = instances
    cache = _cache(serving)
    digest = Digest.of(b"read from storage, then swept")
    assert await cache.get(digest) is None  # a miss: the caller reads storage now
    await write_journal(collecting, "swept-1", [digest], await collections(collecting))
    await _look_again()
    assert await cache.get(Digest.of(b"another request")) is None  # applies the journal
    await cache.set(Descriptor(media_type="application/octet-stream", digest=digest, size=1))
    assert await cache.get(digest) is None


async def test_instance_that_missed_pruned_journals_forgets_everything(
    instances: tuple[FilesystemDriver, FilesystemDriver],
) -> None:
    serving, collecting = instances
    cache = _cache(serving)
    unrelated = Digest.of(b"never swept, but who knows")
    await _remember(cache, unrelated)
    for number in range(KEEP + 2):
        await write_journal(collecting, f"swept-{number:03d}", [], await collections(collecting))
    await _look_again()
    assert await cache.get(unrelated) is None


class ListingCounter(InMemoryDriver):
    """An in-memory driver that counts its folder listings (what costs a request on S3)."""

    def __init__(self) -> None:
        super().__init__()
        self.listings = 0

    async def list_names(self, paths: Sequence[str]) -> list[list[str] | None]:
        self.listings += 1
        return await super().list_names(paths)


async def test_answers_within_one_look_interval_list_the_collections_folder_once() -> None:
    driver = ListingCounter()
    cache = SweepAwareCache(MemoryBlobDescriptorCache(), driver)
    digest = Digest.of(b"asked often")
    await _remember(cache, digest)
    await asyncio.gather(*(cache.get(digest) for _ in range(50)))
    assert driver.listings == 1
    await _look_again()
    assert await cache.get(digest) is not None
    assert driver.listings == 2


async def test_a_collection_condemns_nothing_until_a_look_interval_after_its_marker() -> None:
    driver = InMemoryDriver()
    registry = StorageRegistry(driver)
    await push_blob(registry.repository("app"), b"garbage")
    seen: dict[str, float] = {}
    real_move = driver.move
    real_put = driver.put_content

    async def put_content(path: str, content: bytes) -> None:
        await real_put(path, content)
        if path.startswith(paths.GC_COLLECTING + "/"):
            seen.setdefault("marker", time.monotonic())

    async def move(source: str, destination: str) -> None:
        seen.setdefault("condemned", time.monotonic())
        await real_move(source, destination)

    driver.put_content = put_content  # type: ignore[method-assign]
    driver.move = move  # type: ignore[method-assign]
    result = await collect_garbage(driver)
    assert len(result.blobs_deleted) == 1
    assert seen["condemned"] - seen["marker"] >= LOOK_SECONDS
