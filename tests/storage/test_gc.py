"""Garbage collection: unreferenced blobs are swept, everything reachable stays."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from storage_helpers import index_manifest, push_blob, push_image

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.errors import BlobUnknown, ManifestUnknown
from dockyard.manifest.base import OCI_INDEX, OCI_MANIFEST
from dockyard.storage import paths
from dockyard.storage.driver.base import StorageDriver
from dockyard.storage.gc import collect, collect_garbage
from dockyard.storage.registry import StorageRegistry, StorageRepository


async def test_unreferenced_blob_is_removed(
    registry: StorageRegistry, repo: StorageRepository, driver: StorageDriver
) -> None:
    orphan = await push_blob(repo, b"orphan")
    result = await collect_garbage(driver)
    assert result.blobs_deleted == [orphan.digest]
    assert result.bytes_freed == len(b"orphan")
    with pytest.raises(BlobUnknown):
        await registry.blob_store.stat(orphan.digest)


async def test_referenced_blobs_and_manifest_are_kept(
    registry: StorageRegistry, repo: StorageRepository, driver: StorageDriver
) -> None:
    body, config, layer = await push_image(repo)
    result = await collect_garbage(driver)
    assert result.blobs_deleted == []
    for digest in (Digest.of(body), config.digest, layer.digest):
        await registry.blob_store.stat(digest)
    assert (await repo.manifests.get(Digest.of(body))).body == body


async def test_blobs_of_a_deleted_manifest_are_removed(
    registry: StorageRegistry, repo: StorageRepository, driver: StorageDriver
) -> None:
    body, config, layer = await push_image(repo)
    await repo.manifests.delete(Digest.of(body))
    result = await collect_garbage(driver)
    assert sorted(result.blobs_deleted) == sorted([Digest.of(body), config.digest, layer.digest])


async def test_blob_shared_with_a_live_manifest_is_kept(
    registry: StorageRegistry, driver: StorageDriver
) -> None:
    one, two = registry.repository("one"), registry.repository("two")
    body, _, layer = await push_image(one, b"same")
    await push_image(two, b"same")
    await one.manifests.delete(Digest.of(body))
    await collect_garbage(driver)
    await registry.blob_store.stat(layer.digest)
    assert (await two.manifests.get(Digest.of(body))).body == body


async def test_dry_run_reports_but_deletes_nothing(
    registry: StorageRegistry, repo: StorageRepository, driver: StorageDriver
) -> None:
    orphan = await push_blob(repo, b"orphan")
    result = await collect_garbage(driver, dry_run=True)
    assert result.blobs_deleted == [orphan.digest]
    await registry.blob_store.stat(orphan.digest)


async def test_remove_untagged_deletes_untagged_manifests_and_their_blobs(
    registry: StorageRegistry, repo: StorageRepository, driver: StorageDriver
) -> None:
    tagged, _, kept_layer = await push_image(repo, b"tagged")
    untagged, _, lost_layer = await push_image(repo, b"untagged")
    await repo.tags.tag("latest", Digest.of(tagged))
    result = await collect_garbage(driver, remove_untagged=True)
    assert result.manifests_deleted == [(repo.name, Digest.of(untagged))]
    with pytest.raises(ManifestUnknown):
        await repo.manifests.get(Digest.of(untagged))
    with pytest.raises(BlobUnknown):
        await registry.blob_store.stat(lost_layer.digest)
    await registry.blob_store.stat(kept_layer.digest)


async def test_remove_untagged_keeps_children_of_tagged_index_and_referrers(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    child, _, _ = await push_image(repo, b"child")
    child_descriptor = Descriptor(OCI_MANIFEST, Digest.of(child), len(child))
    index = await repo.manifests.put(index_manifest([child_descriptor]), OCI_INDEX)
    signature, _, _ = await push_image(
        repo, b"sig", subject=Descriptor(OCI_INDEX, index.digest, len(index.body))
    )
    await repo.tags.tag("latest", index.digest)
    result = await collect_garbage(driver, remove_untagged=True)
    assert result.manifests_deleted == []
    for digest in (index.digest, Digest.of(child), Digest.of(signature)):
        await repo.manifests.get(digest)


async def test_remove_untagged_dry_run_keeps_manifests(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    untagged, _, _ = await push_image(repo)
    result = await collect_garbage(driver, remove_untagged=True, dry_run=True)
    assert result.manifests_deleted == [(repo.name, Digest.of(untagged))]
    await repo.manifests.get(Digest.of(untagged))


async def test_grace_period_keeps_young_blobs(
    registry: StorageRegistry, repo: StorageRepository, driver: StorageDriver
) -> None:
    orphan = await push_blob(repo, b"orphan")
    result = await collect_garbage(driver, grace=timedelta(hours=1))
    assert result.blobs_deleted == []
    await registry.blob_store.stat(orphan.digest)


async def test_collection_of_empty_storage_does_nothing(driver: StorageDriver) -> None:
    result = await collect_garbage(driver)
    assert (result.repositories, result.blobs_deleted) == (0, [])


async def test_counts_marked_manifests_and_blobs(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    await push_image(repo)
    result = await collect_garbage(driver)
    assert (result.repositories, result.manifests_marked, result.blobs_marked) == (1, 1, 3)


async def test_collect_is_the_command_line_entry_point(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    untagged, _, _ = await push_image(repo)
    result = await collect(driver, dry_run=True, delete_untagged=True)
    assert result.manifests_deleted == [(repo.name, Digest.of(untagged))]
    assert "1 manifests and 3 blobs" in str(result)


async def _store_unparsable_manifest(
    registry: StorageRegistry, repo: StorageRepository, layer: Digest
) -> Digest:
    """A revision whose body dockyard cannot parse (like an unsigned schema1 payload)."""
    body = json.dumps({"schemaVersion": 1, "fsLayers": [{"blobSum": str(layer)}]}).encode()
    descriptor = await registry.blob_store.put(body)
    await registry.driver.put_content(
        paths.manifest_revision_link(repo.name, descriptor.digest), str(descriptor.digest).encode()
    )
    return descriptor.digest


async def test_unparsable_manifest_keeps_what_it_names(
    registry: StorageRegistry, repo: StorageRepository, driver: StorageDriver
) -> None:
    layer = await push_blob(repo, b"layer of an old manifest")
    digest = await _store_unparsable_manifest(registry, repo, layer.digest)
    result = await collect_garbage(driver, remove_untagged=True)
    assert result.blobs_deleted == []
    assert result.manifests_deleted == []
    await registry.blob_store.stat(digest)
    await registry.blob_store.stat(layer.digest)


async def test_unparsable_manifest_can_still_be_deleted(
    registry: StorageRegistry, repo: StorageRepository
) -> None:
    digest = await _store_unparsable_manifest(registry, repo, Digest.of(b"x"))
    await repo.manifests.delete(digest)
    with pytest.raises(ManifestUnknown):
        await repo.manifests.stat(digest)


async def test_referrers_rebuild_skips_unparsable_manifests(
    registry: StorageRegistry, repo: StorageRepository
) -> None:
    await _store_unparsable_manifest(registry, repo, Digest.of(b"x"))
    assert await repo.referrers.rebuild() == 0


async def test_stray_files_under_blobs_are_reported_and_left_alone(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    orphan = await push_blob(repo, b"orphan next to strays")
    strays = [f"{paths.BLOBS}/sha256/zz/zz-not-hex/data", f"{paths.BLOBS}/README.txt"]
    for stray in strays:
        await driver.put_content(stray, b"not a blob")
    result = await collect_garbage(driver)
    assert result.blobs_deleted == [orphan.digest]
    assert sorted(result.strays) == ["README.txt", "sha256/zz/zz-not-hex/data"]
    assert "2 stray files under blobs/ skipped" in str(result)
    for stray in strays:
        assert await driver.get_content(stray) == b"not a blob"
