"""Manifest reads on the hot path: by tag in one step, and parsed manifests kept by content."""

from __future__ import annotations

import pytest
from storage_helpers import push_image

from dockyard.digest import Digest
from dockyard.errors import ManifestUnknown, TagUnknown
from dockyard.manifest import Manifest, parse_manifest
from dockyard.manifest.base import OCI_MANIFEST
from dockyard.storage import paths
from dockyard.storage.driver.base import StorageDriver
from dockyard.storage.manifest_cache import MAX_ENTRY_BYTES, ManifestCache
from dockyard.storage.registry import StorageRegistry, StorageRepository

REPOSITORY = "library/app"


async def test_get_by_tag_returns_the_manifest_the_tag_points_at(
    repo: StorageRepository,
) -> None:
    body, _, _ = await push_image(repo)
    await repo.tags.tag("v1", Digest.of(body))
    manifest = await repo.manifests.get("v1")
    assert manifest.body == body
    assert manifest.digest == Digest.of(body)
    assert manifest.media_type == OCI_MANIFEST


async def test_get_by_tag_of_unknown_tag_raises_tag_unknown(repo: StorageRepository) -> None:
    await push_image(repo)
    with pytest.raises(TagUnknown):
        await repo.manifests.get("missing")


async def test_get_by_tag_of_damaged_tag_link_raises_tag_unknown(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    await driver.put_content(paths.tag_current_link(REPOSITORY, "v1"), b"not a digest")
    with pytest.raises(TagUnknown):
        await repo.manifests.get("v1")


async def test_get_by_tag_of_tag_whose_revision_is_unlinked_raises_manifest_unknown(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    body, _, _ = await push_image(repo)
    await repo.tags.tag("v1", Digest.of(body))
    await driver.delete(paths.manifest_revision_dir(REPOSITORY, Digest.of(body)))
    with pytest.raises(ManifestUnknown):
        await repo.manifests.get("v1")


async def test_get_by_tag_follows_a_tag_moved_by_another_instance(
    driver: StorageDriver,
) -> None:
    mine = StorageRegistry(driver).repository(REPOSITORY)
    theirs = StorageRegistry(driver).repository(REPOSITORY)
    first, _, _ = await push_image(mine, b"1")
    second, _, _ = await push_image(mine, b"2")
    await mine.tags.tag("v1", Digest.of(first))
    assert (await mine.manifests.get("v1")).body == first
    await theirs.tags.tag("v1", Digest.of(second))
    assert (await mine.manifests.get("v1")).body == second


async def test_cached_manifest_deleted_by_another_instance_is_unknown(
    driver: StorageDriver,
) -> None:
    mine = StorageRegistry(driver).repository(REPOSITORY)
    theirs = StorageRegistry(driver).repository(REPOSITORY)
    body, _, _ = await push_image(mine)
    digest = Digest.of(body)
    await mine.manifests.get(digest)
    await theirs.manifests.delete(digest)
    with pytest.raises(ManifestUnknown):
        await mine.manifests.get(digest)


async def test_repeated_get_serves_the_cached_manifest_without_reading_the_body(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    body, _, _ = await push_image(repo)
    digest = Digest.of(body)
    first = await repo.manifests.get(digest)
    # Content by digest never changes, so a cached parse may stand in for the body.
    await driver.delete(paths.blob_dir(digest))
    assert await repo.manifests.get(digest) is first


async def test_manifest_without_filed_descriptor_is_not_cached(
    registry: StorageRegistry, repo: StorageRepository, driver: StorageDriver
) -> None:
    body, _, _ = await push_image(repo)
    digest = Digest.of(body)
    await driver.delete(paths.manifest_descriptor(REPOSITORY, digest))
    assert (await repo.manifests.get(digest)).body == body
    assert len(registry.manifest_cache) == 0


def _manifest(seed: bytes, padding: int = 0) -> tuple[Digest, bytes, Manifest]:
    body = (
        b'{"schemaVersion":2,"mediaType":"' + OCI_MANIFEST.encode() + b'","config":'
        b'{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'
        + str(Digest.of(seed)).encode()
        + b'","size":1},"layers":[],"annotations":{"pad":"'
        + b"x" * padding
        + b'"}}'
    )
    manifest = parse_manifest(body, OCI_MANIFEST)
    return manifest.digest, body, manifest


def test_cache_returns_an_entry_only_for_the_same_filed_descriptor() -> None:
    cache = ManifestCache()
    digest, _, manifest = _manifest(b"a")
    cache.put(digest, b"descriptor", manifest)
    assert cache.get(digest, b"descriptor") is manifest
    assert cache.get(digest, b"another descriptor") is None


def test_cache_evicts_the_least_recently_used_entry_over_its_budget() -> None:
    entries = [_manifest(bytes([i]), padding=400) for i in range(3)]
    measure = ManifestCache()
    for digest, _, manifest in entries[:2]:
        measure.put(digest, b"d", manifest)
    cache = ManifestCache(budget_bytes=measure.charged_bytes + 1)  # room for two entries
    for digest, _, manifest in entries[:2]:
        cache.put(digest, b"d", manifest)
    assert cache.get(entries[0][0], b"d") is not None  # now the most recently used
    cache.put(entries[2][0], b"d", entries[2][2])
    assert cache.get(entries[1][0], b"d") is None
    assert cache.get(entries[0][0], b"d") is not None
    assert cache.get(entries[2][0], b"d") is not None


def test_cache_does_not_keep_a_manifest_larger_than_an_entry_may_be() -> None:
    cache = ManifestCache(budget_bytes=4 * MAX_ENTRY_BYTES)
    digest, _, manifest = _manifest(b"big", padding=MAX_ENTRY_BYTES)
    cache.put(digest, b"d", manifest)
    assert len(cache) == 0


async def test_stat_by_tag_describes_the_manifest_the_tag_points_at(
    repo: StorageRepository,
) -> None:
    body, _, _ = await push_image(repo)
    await repo.tags.tag("v1", Digest.of(body))
    descriptor = await repo.manifests.stat("v1")
    assert (descriptor.digest, descriptor.size) == (Digest.of(body), len(body))
    assert descriptor.media_type == OCI_MANIFEST


async def test_stat_by_tag_of_unknown_tag_raises_tag_unknown(repo: StorageRepository) -> None:
    with pytest.raises(TagUnknown):
        await repo.manifests.stat("missing")


async def test_stat_by_tag_of_tag_whose_revision_is_unlinked_raises_manifest_unknown(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    body, _, _ = await push_image(repo)
    await repo.tags.tag("v1", Digest.of(body))
    await driver.delete(paths.manifest_revision_dir(REPOSITORY, Digest.of(body)))
    with pytest.raises(ManifestUnknown):
        await repo.manifests.stat("v1")
