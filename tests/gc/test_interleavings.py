"""Each interleaving of a writer with a collection that docs/collection.md argues is safe.

A step of the writer (a HEAD, an upload, a mount, a manifest push) runs at a chosen point
of the collection: before a blob is condemned, while it is condemned, after it is gone.
"""

from __future__ import annotations

import pytest
from gc_helpers import InterleavingDriver
from storage_helpers import CONFIG_TYPE, image_manifest, push_blob, push_image

from dockyard.digest import Digest
from dockyard.errors import BlobUnknown, ManifestBlobUnknown, ManifestUnknown
from dockyard.gc.guard import collecting
from dockyard.manifest.base import OCI_MANIFEST
from dockyard.storage import paths
from dockyard.storage.gc import collect_garbage
from dockyard.storage.registry import StorageRegistry

ORPHAN = b"a layer whose manifest was deleted"


def condemning(digest: Digest) -> object:
    return lambda path: path == paths.condemned_blob(digest)


async def orphan_blob(registry: StorageRegistry) -> Digest:
    """A blob linked in ``app`` that no manifest references (its manifest was deleted)."""
    repo = registry.repository("app")
    return (await push_blob(repo, ORPHAN)).digest


async def test_blob_answered_exists_before_it_is_condemned_is_kept(
    registry: StorageRegistry, driver: InterleavingDriver
) -> None:
    digest = await orphan_blob(registry)

    async def head() -> None:
        await registry.repository("app").blobs.stat(digest)

    driver.at("before", "move", condemning(digest), head)
    result = await collect_garbage(driver)
    assert (result.blobs_deleted, result.restored) == ([], [digest])
    await registry.repository("app").blobs.stat(digest)


async def test_blob_asked_for_while_condemned_is_moved_back_and_kept(
    registry: StorageRegistry, driver: InterleavingDriver
) -> None:
    digest = await orphan_blob(registry)
    answered: list[int] = []

    async def head() -> None:
        answered.append((await registry.repository("app").blobs.stat(digest)).size)

    driver.at("after", "move", condemning(digest), head)
    result = await collect_garbage(driver)
    assert answered == [len(ORPHAN)]
    assert result.blobs_deleted == []
    assert await driver.get_content(paths.blob_data(digest)) == ORPHAN


async def test_blob_asked_for_after_the_recheck_and_before_the_batch_delete_is_kept(
    registry: StorageRegistry, driver: InterleavingDriver
) -> None:
    digest = await orphan_blob(registry)
    answered: list[int] = []

    async def head() -> None:
        answered.append((await registry.repository("app").blobs.stat(digest)).size)

    driver.at("before", "delete", condemning(digest), head)
    result = await collect_garbage(driver)
    assert answered == [len(ORPHAN)]
    assert (result.blobs_deleted, result.restored) == ([], [digest])
    await registry.repository("app").blobs.stat(digest)


async def test_blob_uploaded_again_during_collection_is_kept(
    registry: StorageRegistry, driver: InterleavingDriver
) -> None:
    digest = await orphan_blob(registry)

    async def upload() -> None:
        await push_blob(registry.repository("other"), ORPHAN)

    driver.at("before", "move", condemning(digest), upload)
    result = await collect_garbage(driver)
    assert result.blobs_deleted == []
    await registry.repository("other").blobs.stat(digest)


async def test_blob_mounted_during_collection_is_kept(
    registry: StorageRegistry, driver: InterleavingDriver
) -> None:
    digest = await orphan_blob(registry)

    async def mount() -> None:
        await registry.repository("other").blobs.mount(digest, "app")

    driver.at("before", "move", condemning(digest), mount)
    result = await collect_garbage(driver)
    assert result.blobs_deleted == []
    await registry.repository("other").blobs.stat(digest)


async def test_manifest_pushed_while_its_blob_is_condemned_is_stored_with_the_blob_kept(
    registry: StorageRegistry, driver: InterleavingDriver
) -> None:
    repo = registry.repository("app")
    config = await push_blob(repo, b'{"config":1}', CONFIG_TYPE)
    layer = await push_blob(repo, ORPHAN)
    body = image_manifest(config, [layer])

    async def push() -> None:
        # What a client does: HEAD each blob, upload those unknown, then PUT the manifest.
        for blob, data in ((config.digest, b'{"config":1}'), (layer.digest, ORPHAN)):
            try:
                await repo.blobs.stat(blob)
            except BlobUnknown:
                await push_blob(repo, data)
        await repo.manifests.put(body, OCI_MANIFEST)

    driver.at("after", "move", condemning(layer.digest), push)
    result = await collect_garbage(driver)
    assert layer.digest not in result.blobs_deleted
    manifest = await repo.manifests.get(Digest.of(body))
    for reference in manifest.blob_references:
        await repo.blobs.stat(reference.digest)


@pytest.mark.parametrize("driver", ["inmemory"], indirect=True)
async def test_manifest_whose_blob_is_swept_between_check_and_store_is_refused_and_unlinked(
    registry: StorageRegistry, driver: InterleavingDriver
) -> None:
    repo = registry.repository("app")
    config = await push_blob(repo, b'{"config":2}', CONFIG_TYPE)
    layer = await push_blob(repo, ORPHAN)
    body = image_manifest(config, [layer])
    digest = Digest.of(body)

    async def collect_everything() -> None:
        await collect_garbage(driver)

    # The push checked its blobs before the collection began and stores its link after.
    driver.at(
        "before",
        "put",
        lambda path: path == paths.manifest_revision_link("app", digest),
        collect_everything,
    )
    with pytest.raises(ManifestBlobUnknown):
        await repo.manifests.put(body, OCI_MANIFEST)
    with pytest.raises(ManifestUnknown):
        await repo.manifests.get(digest)


async def test_untagged_manifest_pushed_again_during_collection_is_kept(
    registry: StorageRegistry, driver: InterleavingDriver
) -> None:
    repo = registry.repository("app")
    body, config, layer = await push_image(repo, b"untagged")
    digest = Digest.of(body)

    async def push_again() -> None:
        await repo.manifests.put(body, OCI_MANIFEST)
        await repo.tags.tag("now-tagged", digest)

    driver.at(
        "after",
        "move",
        lambda path: path == paths.condemned_revision_link("app", digest),
        push_again,
    )
    result = await collect_garbage(driver, remove_untagged=True)
    assert result.manifests_deleted == []
    assert (await repo.manifests.get("now-tagged")).digest == digest
    for blob in (digest, config.digest, layer.digest):
        await registry.blob_store.stat(blob)


async def test_blob_head_after_it_is_deleted_answers_unknown(
    registry: StorageRegistry, driver: InterleavingDriver
) -> None:
    digest = await orphan_blob(registry)
    result = await collect_garbage(driver)
    assert result.blobs_deleted == [digest]
    with pytest.raises(BlobUnknown):
        await registry.repository("app").blobs.stat(digest)


async def test_collection_leaves_no_marker_and_no_records_behind(
    registry: StorageRegistry, driver: InterleavingDriver
) -> None:
    digest = await orphan_blob(registry)

    async def head() -> None:
        await registry.repository("app").blobs.stat(digest)

    driver.at("before", "move", condemning(digest), head)
    await collect_garbage(driver)
    assert not await collecting(driver)
    assert not await _exists(driver, paths.GC_IN_USE)


async def _exists(driver: InterleavingDriver, path: str) -> bool:
    try:
        await driver.stat(path)
    except Exception:
        return False
    return True
