"""The storage layout is the reference registry's: each serves what the other wrote.

The reference registry (``docker-registry``, distribution v2) runs on a filesystem root;
dockyard's stores open the same root with the filesystem driver.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from storage_helpers import CONFIG_TYPE, LAYER_TYPE, chunks, image_manifest, push_image

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.manifest.base import OCI_MANIFEST
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.gc import collect_garbage
from dockyard.storage.registry import StorageRegistry

CONFIG = b'{"architecture":"amd64","os":"linux"}'
LAYER = b"a layer written by the reference registry" * 100


async def _reference_push(client: httpx.AsyncClient, name: str) -> bytes:
    for data in (CONFIG, LAYER):
        started = await client.post(f"/v2/{name}/blobs/uploads/")
        assert started.status_code == 202
        location = started.headers["location"]
        separator = "&" if "?" in location else "?"
        put = await client.put(
            f"{location}{separator}digest={Digest.of(data)}",
            content=data,
            headers={"content-type": "application/octet-stream"},
        )
        assert put.status_code == 201, put.text
    body = image_manifest(
        Descriptor(CONFIG_TYPE, Digest.of(CONFIG), len(CONFIG)),
        [Descriptor(LAYER_TYPE, Digest.of(LAYER), len(LAYER))],
    )
    pushed = await client.put(
        f"/v2/{name}/manifests/v1", content=body, headers={"content-type": OCI_MANIFEST}
    )
    assert pushed.status_code == 201, pushed.text
    return body


async def test_dockyard_serves_what_the_reference_pushed(reference: tuple[str, Path]) -> None:
    base, root = reference
    async with httpx.AsyncClient(base_url=base) as client:
        body = await _reference_push(client, "ref/app")

    registry = StorageRegistry(FilesystemDriver(root))
    repo = registry.repository("ref/app")
    assert (await registry.catalog()).items == ["ref/app"]
    assert (await repo.tags.list()).items == ["v1"]
    digest = await repo.tags.resolve("v1")
    assert digest == Digest.of(body)
    manifest = await repo.manifests.get(digest)
    assert manifest.body == body
    assert (await repo.manifests.stat(digest)).media_type == OCI_MANIFEST
    assert (await repo.blobs.stat(Digest.of(LAYER))).size == len(LAYER)
    assert await repo.tags.lookup(digest) == ["v1"]


async def test_reference_serves_what_dockyard_pushed(reference: tuple[str, Path]) -> None:
    base, root = reference
    repo = StorageRegistry(FilesystemDriver(root)).repository("dock/app")
    body, _, layer = await push_image(repo, b"dockyard")
    await repo.tags.tag("v1", Digest.of(body))

    async with httpx.AsyncClient(base_url=base) as client:
        catalog = await client.get("/v2/_catalog")
        tags = await client.get("/v2/dock/app/tags/list")
        manifest = await client.get("/v2/dock/app/manifests/v1", headers={"accept": OCI_MANIFEST})
        blob = await client.get(f"/v2/dock/app/blobs/{layer.digest}")
    assert catalog.json()["repositories"] == ["dock/app"]
    assert tags.json()["tags"] == ["v1"]
    assert manifest.status_code == 200
    assert manifest.content == body
    assert manifest.headers["docker-content-digest"] == str(Digest.of(body))
    assert blob.content == b"layer bytes dockyard"


async def test_reference_deletes_what_dockyard_tagged(reference: tuple[str, Path]) -> None:
    base, root = reference
    repo = StorageRegistry(FilesystemDriver(root)).repository("dock/app")
    body, _, _ = await push_image(repo)
    await repo.tags.tag("v1", Digest.of(body))
    async with httpx.AsyncClient(base_url=base) as client:
        deleted = await client.delete(f"/v2/dock/app/manifests/{Digest.of(body)}")
    assert deleted.status_code == 202, deleted.text
    assert (await repo.tags.list()).items == []


async def test_dockyard_gc_keeps_what_the_reference_references(
    reference: tuple[str, Path],
) -> None:
    base, root = reference
    async with httpx.AsyncClient(base_url=base) as client:
        await _reference_push(client, "ref/app")
    driver = FilesystemDriver(root)
    orphan = await StorageRegistry(driver).blob_store.put(b"unreferenced")
    result = await collect_garbage(driver)
    assert result.blobs_deleted == [orphan.digest]


async def test_dockyard_finishes_a_monolithic_push_the_reference_started(
    reference: tuple[str, Path],
) -> None:
    base, root = reference
    async with httpx.AsyncClient(base_url=base) as client:
        started = await client.post("/v2/ref/app/blobs/uploads/")
    upload_id = started.headers["docker-upload-uuid"]
    repo = StorageRegistry(FilesystemDriver(root)).repository("ref/app")
    descriptor = await repo.uploads.commit(upload_id, Digest.of(LAYER), None, chunks(LAYER))
    assert descriptor.size == len(LAYER)
