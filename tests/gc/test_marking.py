"""What marking keeps: the index-children scenarios of distribution PR #3822 and referrers.

Each test builds a repository, collects with ``deleteuntagged`` and compares what is left
with what should be.
"""

from __future__ import annotations

import pytest
from storage_helpers import image_manifest, index_manifest, push_blob, push_image

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.errors import BlobUnknown
from dockyard.manifest.base import OCI_INDEX, OCI_MANIFEST
from dockyard.storage.gc import collect_garbage
from dockyard.storage.registry import StorageRegistry, StorageRepository

ARTIFACT = "application/vnd.example.signature"


async def image(repo: StorageRepository, seed: bytes) -> tuple[Descriptor, list[Digest]]:
    """An untagged image; its descriptor and the digests of its body, config and layer."""
    body, config, layer = await push_image(repo, seed)
    digest = Digest.of(body)
    return Descriptor(OCI_MANIFEST, digest, len(body)), [digest, config.digest, layer.digest]


async def index(repo: StorageRepository, children: list[Descriptor]) -> Descriptor:
    stored = await repo.manifests.put(index_manifest(children), OCI_INDEX)
    return Descriptor(OCI_INDEX, stored.digest, len(stored.body))


async def referrer(repo: StorageRepository, subject: Descriptor, seed: bytes) -> Descriptor:
    config = await push_blob(repo, b"{}" + seed, "application/vnd.oci.empty.v1+json")
    body = image_manifest(config, [], subject=subject, artifact_type=ARTIFACT)
    stored = await repo.manifests.put(body, OCI_MANIFEST)
    return Descriptor(OCI_MANIFEST, stored.digest, len(stored.body))


async def kept(registry: StorageRegistry, digests: list[Digest]) -> bool:
    for digest in digests:
        try:
            await registry.blob_store.stat(digest)
        except BlobUnknown:
            return False
    return True


async def gone(registry: StorageRegistry, digests: list[Digest]) -> bool:
    for digest in digests:
        try:
            await registry.blob_store.stat(digest)
            return False
        except BlobUnknown:
            continue
    return True


@pytest.fixture
def repo(registry: StorageRegistry) -> StorageRepository:
    return registry.repository("multi")


async def test_untagged_children_of_a_tagged_index_are_kept(
    registry: StorageRegistry, repo: StorageRepository
) -> None:
    amd64, amd64_blobs = await image(repo, b"amd64")
    arm64, arm64_blobs = await image(repo, b"arm64")
    await repo.tags.tag("latest", (await index(repo, [amd64, arm64])).digest)
    result = await collect_garbage(registry.driver, remove_untagged=True)
    assert result.manifests_deleted == []
    assert await kept(registry, amd64_blobs + arm64_blobs)


async def test_deleting_an_index_removes_children_nothing_else_references(
    registry: StorageRegistry, repo: StorageRepository
) -> None:
    amd64, amd64_blobs = await image(repo, b"amd64")
    arm64, arm64_blobs = await image(repo, b"arm64")
    doomed = await index(repo, [amd64, arm64])
    await repo.tags.tag("latest", doomed.digest)
    await repo.manifests.delete(doomed.digest)
    result = await collect_garbage(registry.driver, remove_untagged=True)
    assert sorted(result.manifests_deleted) == sorted(
        [("multi", amd64.digest), ("multi", arm64.digest)]
    )
    assert await gone(registry, amd64_blobs + arm64_blobs + [doomed.digest])


async def test_child_shared_by_two_indexes_survives_deletion_of_one(
    registry: StorageRegistry, repo: StorageRepository
) -> None:
    shared, shared_blobs = await image(repo, b"shared")
    only, only_blobs = await image(repo, b"only in the deleted index")
    doomed = await index(repo, [shared, only])
    survivor = await index(repo, [shared])
    await repo.tags.tag("old", doomed.digest)
    await repo.tags.tag("new", survivor.digest)
    await repo.manifests.delete(doomed.digest)
    result = await collect_garbage(registry.driver, remove_untagged=True)
    assert result.manifests_deleted == [("multi", only.digest)]
    assert await kept(registry, [*shared_blobs, survivor.digest])
    assert await gone(registry, only_blobs)


async def test_child_that_is_also_tagged_survives_deletion_of_its_index(
    registry: StorageRegistry, repo: StorageRepository
) -> None:
    tagged, tagged_blobs = await image(repo, b"tagged child")
    other, other_blobs = await image(repo, b"untagged child")
    doomed = await index(repo, [tagged, other])
    await repo.tags.tag("index", doomed.digest)
    await repo.tags.tag("child", tagged.digest)
    await repo.manifests.delete(doomed.digest)
    result = await collect_garbage(registry.driver, remove_untagged=True)
    assert result.manifests_deleted == [("multi", other.digest)]
    assert await kept(registry, tagged_blobs)
    assert await gone(registry, other_blobs)


async def test_nested_index_children_are_kept_through_every_level(
    registry: StorageRegistry, repo: StorageRepository
) -> None:
    leaf, leaf_blobs = await image(repo, b"leaf")
    inner = await index(repo, [leaf])
    await repo.tags.tag("outer", (await index(repo, [inner])).digest)
    result = await collect_garbage(registry.driver, remove_untagged=True)
    assert result.manifests_deleted == []
    assert await kept(registry, [*leaf_blobs, inner.digest])


async def test_untagged_referrer_of_a_kept_manifest_is_kept(
    registry: StorageRegistry, repo: StorageRepository
) -> None:
    subject, _ = await image(repo, b"signed")
    await repo.tags.tag("latest", subject.digest)
    signature = await referrer(repo, subject, b"sig")
    result = await collect_garbage(registry.driver, remove_untagged=True)
    assert result.manifests_deleted == []
    await repo.manifests.get(signature.digest)


async def test_referrer_of_a_referrer_of_a_kept_manifest_is_kept(
    registry: StorageRegistry, repo: StorageRepository
) -> None:
    subject, _ = await image(repo, b"signed")
    await repo.tags.tag("latest", subject.digest)
    sbom = await referrer(repo, subject, b"sbom")
    attestation = await referrer(repo, sbom, b"signature of the sbom")
    await collect_garbage(registry.driver, remove_untagged=True)
    await repo.manifests.get(attestation.digest)


async def test_referrers_of_a_deleted_subject_go_with_it(
    registry: StorageRegistry, repo: StorageRepository
) -> None:
    subject, subject_blobs = await image(repo, b"deleted")
    await repo.tags.tag("latest", subject.digest)
    signature = await referrer(repo, subject, b"sig")
    await repo.manifests.delete(subject.digest)
    result = await collect_garbage(registry.driver, remove_untagged=True)
    assert result.manifests_deleted == [("multi", signature.digest)]
    assert await gone(registry, [*subject_blobs, signature.digest])
    assert await repo.referrers.list(subject.digest) == []


async def test_keep_orphan_referrers_keeps_referrers_of_a_deleted_subject(
    registry: StorageRegistry, repo: StorageRepository
) -> None:
    subject, subject_blobs = await image(repo, b"deleted")
    await repo.tags.tag("latest", subject.digest)
    signature = await referrer(repo, subject, b"sig")
    await repo.manifests.delete(subject.digest)
    result = await collect_garbage(
        registry.driver, remove_untagged=True, keep_orphan_referrers=True
    )
    assert result.manifests_deleted == []
    await repo.manifests.get(signature.digest)
    assert await gone(registry, subject_blobs)


async def test_without_delete_untagged_every_manifest_and_its_content_is_kept(
    registry: StorageRegistry, repo: StorageRepository
) -> None:
    untagged, untagged_blobs = await image(repo, b"untagged")
    signature = await referrer(repo, untagged, b"sig")
    result = await collect_garbage(registry.driver)
    assert (result.manifests_deleted, result.blobs_deleted) == ([], [])
    assert await kept(registry, [*untagged_blobs, signature.digest])


async def test_repository_whose_last_manifest_is_collected_leaves_the_catalog(
    registry: StorageRegistry, repo: StorageRepository
) -> None:
    await image(repo, b"untagged")
    stays = registry.repository("stays")
    body, _, _ = await push_image(stays, b"tagged")
    await stays.tags.tag("v1", Digest.of(body))
    await collect_garbage(registry.driver, remove_untagged=True)
    assert (await registry.catalog()).items == ["stays"]
