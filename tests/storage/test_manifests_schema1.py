"""Signed schema1 manifests: blobSums must be linked; the signed body is served as pushed."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from storage_helpers import push_blob

from dockyard.digest import Digest
from dockyard.errors import ManifestBlobUnknown, ManifestUnverified
from dockyard.manifest.base import DOCKER_SCHEMA1_SIGNED
from dockyard.manifest.schema1 import canonical_payload, sign_schema1
from dockyard.storage import paths
from dockyard.storage.registry import StorageRepository

LAYER_A = b"layer a"
LAYER_B = b"layer b"


def signed(name: str) -> bytes:
    manifest = {
        "schemaVersion": 1,
        "name": name,
        "tag": "latest",
        "architecture": "amd64",
        "fsLayers": [
            {"blobSum": str(Digest.of(LAYER_A))},
            {"blobSum": str(Digest.of(LAYER_B))},
            {"blobSum": str(Digest.of(LAYER_A))},
        ],
        "history": [{"v1Compatibility": json.dumps({"id": str(i)})} for i in range(3)],
    }
    return sign_schema1(manifest, ec.generate_private_key(ec.SECP256R1()))


async def test_missing_blob_sums_are_all_reported_once(repo: StorageRepository) -> None:
    with pytest.raises(ManifestBlobUnknown) as caught:
        await repo.manifests.put(signed(repo.name), DOCKER_SCHEMA1_SIGNED)
    assert caught.value.digests == [Digest.of(LAYER_A), Digest.of(LAYER_B)]


async def test_signed_manifest_is_stored_under_its_canonical_digest(
    repo: StorageRepository,
) -> None:
    await push_blob(repo, LAYER_A)
    await push_blob(repo, LAYER_B)
    body = signed(repo.name)
    manifest = await repo.manifests.put(body, DOCKER_SCHEMA1_SIGNED)
    assert manifest.digest == Digest.of(canonical_payload(manifest))
    fetched = await repo.manifests.get(manifest.digest)
    assert fetched.body == body
    assert (await repo.manifests.stat(manifest.digest)).media_type == DOCKER_SCHEMA1_SIGNED


async def test_tampered_signature_raises_manifest_unverified(repo: StorageRepository) -> None:
    body = signed(repo.name).replace(b'"amd64"', b'"arm64"')
    with pytest.raises(ManifestUnverified):
        await repo.manifests.put(body, DOCKER_SCHEMA1_SIGNED)


async def test_blob_of_a_signed_manifest_is_its_canonical_payload(
    repo: StorageRepository,
) -> None:
    # The reference stores the unsigned payload, so the blob's content matches its digest.
    await push_blob(repo, LAYER_A)
    await push_blob(repo, LAYER_B)
    manifest = await repo.manifests.put(signed(repo.name), DOCKER_SCHEMA1_SIGNED)
    stored = await repo.blobs.driver.get_content(paths.blob_data(manifest.digest))
    assert stored == canonical_payload(manifest)
    assert Digest.of(stored) == manifest.digest


async def test_payload_without_pushed_signatures_is_served_signed_by_the_registry(
    repo: StorageRepository,
) -> None:
    # A root written by the reference registry holds only the canonical payload.
    await push_blob(repo, LAYER_A)
    await push_blob(repo, LAYER_B)
    pushed = await repo.manifests.put(signed(repo.name), DOCKER_SCHEMA1_SIGNED)
    driver = repo.blobs.driver
    await driver.delete(paths.schema1_signed(repo.name, pushed.digest))
    await driver.delete(paths.manifest_descriptor(repo.name, pushed.digest))
    served = await repo.manifests.get(pushed.digest)
    assert served.media_type == DOCKER_SCHEMA1_SIGNED
    assert served.digest == pushed.digest
    assert served.body != pushed.body  # signed again, by the registry's own key
    assert canonical_payload(served) == canonical_payload(pushed)
