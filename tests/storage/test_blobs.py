"""Blobs: the global content-addressed store and each repository's linked view."""

from __future__ import annotations

import os

import pytest
from storage_helpers import collect, push_blob

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.errors import BlobUnknown, RangeInvalid
from dockyard.storage import paths
from dockyard.storage.driver.base import StorageDriver
from dockyard.storage.driver.inmemory import InMemoryDriver
from dockyard.storage.registry import StorageRegistry, StorageRepository

DATA = b"0123456789" * 10
DIGEST = Digest.of(DATA)


async def test_global_put_stores_content_at_its_blob_path(
    registry: StorageRegistry, driver: StorageDriver
) -> None:
    descriptor = await registry.blob_store.put(DATA)
    assert descriptor.digest == DIGEST
    assert await driver.get_content(paths.blob_data(DIGEST)) == DATA


async def test_global_stat_reports_size_and_octet_stream(registry: StorageRegistry) -> None:
    await registry.blob_store.put(DATA, "application/vnd.whatever")
    descriptor = await registry.blob_store.stat(DIGEST)
    assert descriptor.size == len(DATA)
    assert descriptor.media_type == "application/octet-stream"


async def test_global_stat_of_absent_blob_raises_blob_unknown(registry: StorageRegistry) -> None:
    with pytest.raises(BlobUnknown):
        await registry.blob_store.stat(DIGEST)


async def test_global_put_does_not_link_into_any_repository(
    registry: StorageRegistry, repo: StorageRepository
) -> None:
    await registry.blob_store.put(DATA)
    with pytest.raises(BlobUnknown):
        await repo.blobs.stat(DIGEST)


async def test_put_links_blob_into_repository(repo: StorageRepository) -> None:
    await repo.blobs.put(DATA)
    assert (await repo.blobs.stat(DIGEST)).size == len(DATA)


async def test_link_file_holds_the_digest_string(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    await repo.blobs.put(DATA)
    link = await driver.get_content(paths.layer_link(repo.name, DIGEST))
    assert link == str(DIGEST).encode()


async def test_stat_of_unlinked_blob_raises_blob_unknown(repo: StorageRepository) -> None:
    with pytest.raises(BlobUnknown):
        await repo.blobs.stat(DIGEST)


async def test_stat_of_link_without_data_raises_blob_unknown(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    await driver.put_content(paths.layer_link(repo.name, DIGEST), str(DIGEST).encode())
    with pytest.raises(BlobUnknown):
        await repo.blobs.stat(DIGEST)


async def test_stat_of_damaged_link_raises_blob_unknown(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    await repo.blobs.put(DATA)
    await driver.put_content(paths.layer_link(repo.name, DIGEST), b"garbage")
    with pytest.raises(BlobUnknown):
        await repo.blobs.stat(DIGEST)


async def test_open_serves_whole_blob(repo: StorageRepository, driver: StorageDriver) -> None:
    await repo.blobs.put(DATA)
    content = await repo.blobs.open(DIGEST)
    assert content.descriptor.size == len(DATA)
    if content.file is not None:
        assert os.pread(content.file.fd, len(DATA) + 1, 0) == DATA
    else:
        assert await collect(content.stream) == DATA


async def test_open_offers_local_file_when_driver_has_one(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    await repo.blobs.put(DATA)
    content = await repo.blobs.open(DIGEST)
    offered = driver.open_file(paths.blob_data(DIGEST))
    assert (content.file is not None) == (offered is not None)
    assert (content.stream is None) == (offered is not None)


async def test_open_streams_a_range_when_no_local_file() -> None:
    memory_repo = StorageRegistry(InMemoryDriver()).repository("a")
    await memory_repo.blobs.put(DATA)
    content = await memory_repo.blobs.open(DIGEST, 5, 10)
    assert await collect(content.stream) == DATA[5:15]


async def test_open_at_size_is_empty_range(repo: StorageRepository) -> None:
    await repo.blobs.put(DATA)
    content = await repo.blobs.open(DIGEST, len(DATA))
    assert content.descriptor.size == len(DATA)


async def test_open_past_end_raises_range_invalid(repo: StorageRepository) -> None:
    await repo.blobs.put(DATA)
    with pytest.raises(RangeInvalid):
        await repo.blobs.open(DIGEST, len(DATA) + 1)


async def test_open_with_negative_offset_raises_range_invalid(repo: StorageRepository) -> None:
    await repo.blobs.put(DATA)
    with pytest.raises(RangeInvalid):
        await repo.blobs.open(DIGEST, -1)


async def test_open_with_negative_length_raises_range_invalid(repo: StorageRepository) -> None:
    await repo.blobs.put(DATA)
    with pytest.raises(RangeInvalid):
        await repo.blobs.open(DIGEST, 0, -1)


async def test_open_of_unlinked_blob_raises_blob_unknown(
    registry: StorageRegistry, repo: StorageRepository
) -> None:
    await registry.blob_store.put(DATA)
    with pytest.raises(BlobUnknown):
        await repo.blobs.open(DIGEST)


class _RedirectingDriver:
    """Wraps a driver so that it offers redirect URLs (as an object store would)."""

    @staticmethod
    def wrap(driver: StorageDriver) -> StorageDriver:
        async def redirect_url(path: str, method: str = "GET") -> str | None:
            return f"https://objects.example/{method}{path}"

        driver.redirect_url = redirect_url  # type: ignore[method-assign]
        return driver


async def test_open_redirects_when_allowed_and_offered(driver: StorageDriver) -> None:
    repo = StorageRegistry(_RedirectingDriver.wrap(driver)).repository("a")
    await repo.blobs.put(DATA)
    content = await repo.blobs.open(DIGEST, allow_redirect=True, method="HEAD")
    assert content.redirect_url == f"https://objects.example/HEAD{paths.blob_data(DIGEST)}"
    assert content.stream is None
    assert content.file is None


async def test_open_does_not_redirect_unless_allowed(driver: StorageDriver) -> None:
    repo = StorageRegistry(_RedirectingDriver.wrap(driver)).repository("a")
    await repo.blobs.put(DATA)
    content = await repo.blobs.open(DIGEST)
    assert content.redirect_url is None


async def test_open_with_redirect_allowed_redirects_only_where_the_driver_can(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    await repo.blobs.put(DATA)
    content = await repo.blobs.open(DIGEST, allow_redirect=True)
    if await driver.redirect_url(paths.blob_data(DIGEST)) is not None:
        assert content.redirect_url is not None
    else:
        assert content.redirect_url is None
        assert content.stream is not None or content.file is not None


async def test_mount_links_blob_from_source_repository(registry: StorageRegistry) -> None:
    source = registry.repository("source")
    target = registry.repository("target")
    await push_blob(source, DATA)
    descriptor = await target.blobs.mount(DIGEST, "source")
    assert descriptor.digest == DIGEST
    assert (await target.blobs.stat(DIGEST)).size == len(DATA)


async def test_mount_of_blob_not_linked_in_source_raises_blob_unknown(
    registry: StorageRegistry,
) -> None:
    await registry.blob_store.put(DATA)
    await registry.repository("other").blobs.put(DATA)
    with pytest.raises(BlobUnknown):
        await registry.repository("target").blobs.mount(DIGEST, "source")


async def test_mount_failure_leaves_no_link(registry: StorageRegistry) -> None:
    target = registry.repository("target")
    await registry.blob_store.put(DATA)
    with pytest.raises(BlobUnknown):
        await target.blobs.mount(DIGEST, "source")
    with pytest.raises(BlobUnknown):
        await target.blobs.stat(DIGEST)


async def test_delete_unlinks_but_keeps_content(
    registry: StorageRegistry, repo: StorageRepository
) -> None:
    await repo.blobs.put(DATA)
    await repo.blobs.delete(DIGEST)
    with pytest.raises(BlobUnknown):
        await repo.blobs.stat(DIGEST)
    assert (await registry.blob_store.stat(DIGEST)).size == len(DATA)


async def test_delete_of_unlinked_blob_raises_blob_unknown(repo: StorageRepository) -> None:
    with pytest.raises(BlobUnknown):
        await repo.blobs.delete(DIGEST)


async def test_blob_unknown_carries_the_digest(repo: StorageRepository) -> None:
    with pytest.raises(BlobUnknown) as caught:
        await repo.blobs.stat(DIGEST)
    assert caught.value.detail == {"digest": str(DIGEST)}
    assert "/docker" not in caught.value.message


class _MemoryCache:
    def __init__(self) -> None:
        self.entries: dict[Digest, Descriptor] = {}
        self.hits = 0

    async def get(self, digest: Digest) -> Descriptor | None:
        found = self.entries.get(digest)
        self.hits += found is not None
        return found

    async def set(self, descriptor: Descriptor) -> None:
        self.entries[descriptor.digest] = descriptor

    async def clear(self, digest: Digest) -> None:
        self.entries.pop(digest, None)

    def repository(self, name: str) -> None:
        return None

    async def close(self) -> None:
        pass


async def test_descriptor_cache_answers_repeated_stats(driver: StorageDriver) -> None:
    cache = _MemoryCache()
    registry = StorageRegistry(driver, blob_descriptor_cache=cache)
    await registry.blob_store.put(DATA)
    await registry.blob_store.stat(DIGEST)
    await registry.blob_store.stat(DIGEST)
    assert cache.hits == 1


async def test_mount_from_invalid_repository_name_raises_blob_unknown(
    repo: StorageRepository,
) -> None:
    await repo.blobs.put(DATA)
    with pytest.raises(BlobUnknown):
        await repo.blobs.mount(DIGEST, "../escape")
