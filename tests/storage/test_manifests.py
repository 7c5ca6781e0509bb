"""Manifests: verified on push, stored byte-exact, found by digest, deleted with their tags."""

from __future__ import annotations

import hashlib
import json

import pytest
from storage_helpers import (
    CONFIG_TYPE,
    fake_descriptor,
    image_manifest,
    index_manifest,
    push_blob,
    push_image,
)

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.errors import (
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestTooLarge,
    ManifestUnknown,
    TagUnknown,
)
from dockyard.manifest.base import (
    DOCKER_MANIFEST,
    MAX_MANIFEST_SIZE,
    OCI_INDEX,
    OCI_MANIFEST,
)
from dockyard.storage import paths
from dockyard.storage.driver.base import PathNotFound, StorageDriver
from dockyard.storage.registry import StorageRegistry, StorageRepository

NON_DISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"


async def test_put_returns_manifest_with_digest_of_body(repo: StorageRepository) -> None:
    body, _, _ = await push_image(repo)
    manifest = await repo.manifests.get(Digest.of(body))
    assert manifest.digest == Digest.of(body)
    assert manifest.media_type == OCI_MANIFEST


async def test_get_returns_body_byte_exact(repo: StorageRepository) -> None:
    body, _, _ = await push_image(repo)
    assert (await repo.manifests.get(Digest.of(body))).body == body


async def test_put_stores_body_in_global_blob_store(
    registry: StorageRegistry, repo: StorageRepository
) -> None:
    body, _, _ = await push_image(repo)
    assert await registry.blob_store.get(Digest.of(body)) == body


async def test_put_links_the_revision(repo: StorageRepository, driver: StorageDriver) -> None:
    body, _, _ = await push_image(repo)
    link = await driver.get_content(paths.manifest_revision_link(repo.name, Digest.of(body)))
    assert link == str(Digest.of(body)).encode()


async def test_stat_reports_media_type_and_size(repo: StorageRepository) -> None:
    body, _, _ = await push_image(repo)
    descriptor = await repo.manifests.stat(Digest.of(body))
    assert descriptor.media_type == OCI_MANIFEST
    assert descriptor.size == len(body)
    assert descriptor.digest == Digest.of(body)


async def test_stat_without_filed_descriptor_parses_the_body(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    body, _, _ = await push_image(repo)
    await driver.delete(paths.manifest_descriptor(repo.name, Digest.of(body)))
    descriptor = await repo.manifests.stat(Digest.of(body))
    assert descriptor.media_type == OCI_MANIFEST
    assert descriptor.size == len(body)


async def test_get_without_filed_descriptor_parses_the_body(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    body, _, _ = await push_image(repo)
    await driver.delete(paths.manifest_descriptor(repo.name, Digest.of(body)))
    assert (await repo.manifests.get(Digest.of(body))).media_type == OCI_MANIFEST


async def test_get_of_unknown_manifest_raises_manifest_unknown(repo: StorageRepository) -> None:
    with pytest.raises(ManifestUnknown):
        await repo.manifests.get(Digest.of(b"nothing"))


async def test_stat_of_unknown_manifest_raises_manifest_unknown(repo: StorageRepository) -> None:
    with pytest.raises(ManifestUnknown):
        await repo.manifests.stat(Digest.of(b"nothing"))


async def test_manifest_of_another_repository_is_unknown(registry: StorageRegistry) -> None:
    body, _, _ = await push_image(registry.repository("one"))
    with pytest.raises(ManifestUnknown):
        await registry.repository("two").manifests.get(Digest.of(body))


async def test_put_with_matching_expected_digest(repo: StorageRepository) -> None:
    config = await push_blob(repo, b"{}", CONFIG_TYPE)
    body = image_manifest(config, [])
    manifest = await repo.manifests.put(body, OCI_MANIFEST, Digest.of(body))
    assert manifest.digest == Digest.of(body)


async def test_put_with_other_expected_digest_raises_digest_invalid(
    repo: StorageRepository,
) -> None:
    config = await push_blob(repo, b"{}", CONFIG_TYPE)
    body = image_manifest(config, [])
    with pytest.raises(DigestInvalid):
        await repo.manifests.put(body, OCI_MANIFEST, Digest.of(b"other"))
    with pytest.raises(ManifestUnknown):
        await repo.manifests.get(Digest.of(body))


async def test_put_by_sha512_digest_stores_under_that_digest(repo: StorageRepository) -> None:
    config = await push_blob(repo, b"{}", CONFIG_TYPE)
    body = image_manifest(config, [])
    digest = Digest("sha512", hashlib.sha512(body).hexdigest())
    manifest = await repo.manifests.put(body, OCI_MANIFEST, digest)
    assert manifest.digest == digest
    assert (await repo.manifests.get(digest)).body == body
    assert (await repo.manifests.stat(digest)).digest == digest


async def test_put_with_wrong_sha512_digest_raises_digest_invalid(
    repo: StorageRepository,
) -> None:
    config = await push_blob(repo, b"{}", CONFIG_TYPE)
    body = image_manifest(config, [])
    digest = Digest("sha512", hashlib.sha512(b"other").hexdigest())
    with pytest.raises(DigestInvalid):
        await repo.manifests.put(body, OCI_MANIFEST, digest)


async def test_invalid_json_raises_manifest_invalid(repo: StorageRepository) -> None:
    with pytest.raises(ManifestInvalid):
        await repo.manifests.put(b"{not json", OCI_MANIFEST)


async def test_wrong_media_type_raises_manifest_invalid(repo: StorageRepository) -> None:
    config = await push_blob(repo, b"{}", CONFIG_TYPE)
    body = image_manifest(config, [])
    with pytest.raises(ManifestInvalid):
        await repo.manifests.put(body, DOCKER_MANIFEST)


async def test_unknown_media_type_raises_manifest_invalid(repo: StorageRepository) -> None:
    config = await push_blob(repo, b"{}", CONFIG_TYPE)
    with pytest.raises(ManifestInvalid):
        await repo.manifests.put(image_manifest(config, []), "text/plain")


async def test_too_large_manifest_raises_manifest_too_large(repo: StorageRepository) -> None:
    with pytest.raises(ManifestTooLarge):
        await repo.manifests.put(b" " * (MAX_MANIFEST_SIZE + 1), OCI_MANIFEST)


async def test_missing_references_are_all_reported(repo: StorageRepository) -> None:
    config = fake_descriptor(b"config", CONFIG_TYPE)
    layers = [fake_descriptor(b"one"), fake_descriptor(b"two")]
    present = await push_blob(repo, b"present")
    body = image_manifest(config, [layers[0], present, layers[1]])
    with pytest.raises(ManifestBlobUnknown) as caught:
        await repo.manifests.put(body, OCI_MANIFEST)
    assert caught.value.digests == [config.digest, layers[0].digest, layers[1].digest]
    with pytest.raises(ManifestUnknown):
        await repo.manifests.get(Digest.of(body))


async def test_repeated_missing_reference_is_reported_once(repo: StorageRepository) -> None:
    config = await push_blob(repo, b"{}", CONFIG_TYPE)
    layer = fake_descriptor(b"one")
    with pytest.raises(ManifestBlobUnknown) as caught:
        await repo.manifests.put(image_manifest(config, [layer, layer]), OCI_MANIFEST)
    assert caught.value.digests == [layer.digest]


async def test_blob_linked_in_another_repository_counts_as_missing(
    registry: StorageRegistry, repo: StorageRepository
) -> None:
    layer = await push_blob(registry.repository("elsewhere"), b"layer")
    config = await push_blob(repo, b"{}", CONFIG_TYPE)
    with pytest.raises(ManifestBlobUnknown) as caught:
        await repo.manifests.put(image_manifest(config, [layer]), OCI_MANIFEST)
    assert caught.value.digests == [layer.digest]


async def test_link_to_missing_content_counts_as_missing(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    config = await push_blob(repo, b"{}", CONFIG_TYPE)
    layer = fake_descriptor(b"gone")
    await driver.put_content(paths.layer_link(repo.name, layer.digest), str(layer.digest).encode())
    with pytest.raises(ManifestBlobUnknown):
        await repo.manifests.put(image_manifest(config, [layer]), OCI_MANIFEST)


async def test_non_distributable_layer_with_urls_need_not_be_pushed(
    repo: StorageRepository,
) -> None:
    config = await push_blob(repo, b"{}", CONFIG_TYPE)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config.to_json(),
            "layers": [
                {
                    **fake_descriptor(b"foreign", NON_DISTRIBUTABLE).to_json(),
                    "urls": ["https://example.com/layer"],
                }
            ],
        }
    ).encode()
    manifest = await repo.manifests.put(body, OCI_MANIFEST)
    assert (await repo.manifests.get(manifest.digest)).body == body


async def test_index_with_present_children_is_stored(repo: StorageRepository) -> None:
    first, _, _ = await push_image(repo, b"1")
    second, _, _ = await push_image(repo, b"2")
    children = [
        Descriptor(OCI_MANIFEST, Digest.of(first), len(first)),
        Descriptor(OCI_MANIFEST, Digest.of(second), len(second)),
    ]
    index = await repo.manifests.put(index_manifest(children), OCI_INDEX)
    assert (await repo.manifests.stat(index.digest)).media_type == OCI_INDEX


async def test_index_with_missing_children_reports_them_all(repo: StorageRepository) -> None:
    present, _, _ = await push_image(repo, b"1")
    missing = [fake_descriptor(b"m1", OCI_MANIFEST), fake_descriptor(b"m2", OCI_MANIFEST)]
    children = [missing[0], Descriptor(OCI_MANIFEST, Digest.of(present), len(present)), missing[1]]
    with pytest.raises(ManifestBlobUnknown) as caught:
        await repo.manifests.put(index_manifest(children), OCI_INDEX)
    assert caught.value.digests == [missing[0].digest, missing[1].digest]


async def test_index_child_must_be_a_manifest_not_a_blob(repo: StorageRepository) -> None:
    blob = await push_blob(repo, b"just a blob", OCI_MANIFEST)
    with pytest.raises(ManifestBlobUnknown):
        await repo.manifests.put(index_manifest([blob]), OCI_INDEX)


async def test_put_twice_is_idempotent(repo: StorageRepository) -> None:
    body, _, _ = await push_image(repo)
    again = await repo.manifests.put(body, OCI_MANIFEST)
    assert again.digest == Digest.of(body)


async def test_put_without_content_type_detects_media_type(repo: StorageRepository) -> None:
    config = await push_blob(repo, b"{}", CONFIG_TYPE)
    manifest = await repo.manifests.put(image_manifest(config, []), None)
    assert (await repo.manifests.stat(manifest.digest)).media_type == OCI_MANIFEST


# --- delete -------------------------------------------------------------------------------


async def test_delete_removes_the_revision(repo: StorageRepository) -> None:
    body, _, _ = await push_image(repo)
    await repo.manifests.delete(Digest.of(body))
    with pytest.raises(ManifestUnknown):
        await repo.manifests.get(Digest.of(body))
    with pytest.raises(ManifestUnknown):
        await repo.manifests.stat(Digest.of(body))


async def test_delete_removes_every_tag_pointing_at_it(repo: StorageRepository) -> None:
    body, _, _ = await push_image(repo, b"1")
    other, _, _ = await push_image(repo, b"2")
    await repo.tags.tag("a", Digest.of(body))
    await repo.tags.tag("b", Digest.of(body))
    await repo.tags.tag("c", Digest.of(other))
    await repo.manifests.delete(Digest.of(body))
    for tag in ("a", "b"):
        with pytest.raises(TagUnknown):
            await repo.tags.resolve(tag)
    assert await repo.tags.resolve("c") == Digest.of(other)


async def test_delete_removes_its_referrers_entry(repo: StorageRepository) -> None:
    subject, _, _ = await push_image(repo, b"subject")
    subject_descriptor = Descriptor(OCI_MANIFEST, Digest.of(subject), len(subject))
    referrer, _, _ = await push_image(repo, b"sig", subject=subject_descriptor)
    await repo.manifests.delete(Digest.of(referrer))
    assert await repo.referrers.list(Digest.of(subject)) == []


async def test_delete_keeps_the_blob_content(
    registry: StorageRegistry, repo: StorageRepository
) -> None:
    body, _, _ = await push_image(repo)
    await repo.manifests.delete(Digest.of(body))
    assert await registry.blob_store.get(Digest.of(body)) == body


async def test_delete_of_unknown_manifest_raises_manifest_unknown(
    repo: StorageRepository,
) -> None:
    with pytest.raises(ManifestUnknown):
        await repo.manifests.delete(Digest.of(b"nothing"))


async def test_delete_removes_the_filed_descriptor(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    body, _, _ = await push_image(repo)
    await repo.manifests.delete(Digest.of(body))
    with pytest.raises(PathNotFound):
        await driver.stat(paths.manifest_descriptor(repo.name, Digest.of(body)))


async def test_revisions_lists_every_stored_manifest(repo: StorageRepository) -> None:
    first, _, _ = await push_image(repo, b"1")
    second, _, _ = await push_image(repo, b"2")
    assert await repo.manifests.revisions() == sorted([Digest.of(first), Digest.of(second)])
