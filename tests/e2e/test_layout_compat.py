"""Storage layout compatibility with the reference registry, both ways.

(a) What dockyard writes into a filesystem root (through its stores, and through
``dockyard serve``) is served by the reference registry with identical digests.
(b) What the reference registry writes (pushed over HTTP by skopeo) is read back through
dockyard's stores and served by ``dockyard serve`` with identical digests.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from e2e_checks import assert_same_in_layout, assert_served
from e2e_images import OCI_INDEX, OCI_MANIFEST, Image, OciLayout, sha256
from e2e_processes import ServerProcess, StartDockyard, StartReference, copy

from dockyard.config.model import FilesystemParams
from dockyard.digest import Digest
from dockyard.storage.driver import create_driver
from dockyard.storage.registry import StorageRegistry


def filesystem_registry(root: Path) -> StorageRegistry:
    return StorageRegistry(create_driver(FilesystemParams(rootdirectory=str(root))))


async def chunks(data: bytes, size: int = 20_000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def write_through_stores(root: Path, repository: str, tag: str, image: Image) -> None:
    """Push ``image`` the way the HTTP layer does: chunked resumable uploads, then the
    manifest, then the tag."""
    registry = filesystem_registry(root)
    repo = registry.repository(repository)
    try:
        for digest, data in image.blobs.items():
            upload = await repo.uploads.create()
            half = len(data) // 2
            status = await repo.uploads.append(upload.id, 0, chunks(data[:half]))
            await repo.uploads.append(upload.id, status.offset, chunks(data[half:]))
            await repo.uploads.commit(upload.id, Digest.parse(digest), size=len(data))
        manifest = await repo.manifests.put(image.manifest, image.media_type)
        assert str(manifest.digest) == image.digest
        await repo.tags.tag(tag, manifest.digest)
    finally:
        await registry.driver.close()


async def read_blob(registry: StorageRegistry, repository: str, digest: str) -> bytes:
    content = await registry.repository(repository).blobs.open(Digest.parse(digest))
    if content.file is not None:
        try:
            return os.pread(content.file.fd, content.file.size, 0)
        finally:
            content.file.close()
    assert content.stream is not None
    return b"".join([chunk async for chunk in content.stream])


async def assert_readable_through_stores(
    root: Path, repository: str, tag: str, image: Image
) -> None:
    """dockyard's stores resolve ``tag`` to ``image`` and return every byte of it."""
    registry = filesystem_registry(root)
    repo = registry.repository(repository)
    try:
        assert str(await repo.tags.resolve(tag)) == image.digest
        assert tag in (await repo.tags.list()).items
        assert repository in (await registry.catalog()).items

        async def check(image: Image) -> None:
            manifest = await repo.manifests.get(Digest.parse(image.digest))
            assert manifest.body == image.manifest
            assert manifest.media_type == image.media_type
            for child in image.children:
                await check(child)
            for digest, data in image.blobs.items():
                stored = await read_blob(registry, repository, digest)
                assert hashlib.sha256(stored).hexdigest() == digest.split(":")[1]
                assert stored == data

        await check(image)
    finally:
        await registry.driver.close()


# --- (a) dockyard writes, the reference serves --------------------------------------------


async def test_image_written_by_dockyard_stores_is_served_by_the_reference(
    tmp_path: Path, layout: OciLayout, start_reference: StartReference
) -> None:
    image = layout.add_image("v1", layers=3)
    root = tmp_path / "root"
    await write_through_stores(root, "compat/stores", "v1", image)

    reference = start_reference(root)
    assert_served(reference, "compat/stores", image)
    tagged = httpx.get(
        f"{reference.url}/v2/compat/stores/manifests/v1", headers={"Accept": OCI_MANIFEST}
    )
    assert tagged.headers["docker-content-digest"] == image.digest
    assert httpx.get(f"{reference.url}/v2/compat/stores/tags/list").json()["tags"] == ["v1"]

    pulled = OciLayout(tmp_path / "pulled")
    copy(f"docker://{reference.host}/compat/stores:v1", pulled.ref("v1"))
    assert_same_in_layout(pulled, "v1", image)


def test_images_pushed_to_dockyard_serve_are_served_by_the_reference(
    tmp_path: Path,
    layout: OciLayout,
    start_dockyard: StartDockyard,
    start_reference: StartReference,
) -> None:
    image = layout.add_image("v1", layers=4)
    index = layout.add_index("multi", platforms=(("linux", "amd64"), ("linux", "arm64")))
    root = tmp_path / "root"
    dockyard = start_dockyard(root)
    copy(layout.ref("v1"), f"docker://{dockyard.host}/compat/http:v1")
    copy(layout.ref("multi"), f"docker://{dockyard.host}/compat/http:multi", "--all")
    copy(layout.ref("v1"), f"docker://{dockyard.host}/compat/http:v2s2", "--format", "v2s2")
    docker_accept = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
    schema2 = httpx.get(f"{dockyard.url}/v2/compat/http/manifests/v2s2", headers=docker_accept)
    dockyard.stop()

    reference = start_reference(root)
    assert_served(reference, "compat/http", image)
    assert_served(reference, "compat/http", index)
    served = httpx.get(f"{reference.url}/v2/compat/http/manifests/v2s2", headers=docker_accept)
    assert served.headers["content-type"] == schema2.headers["content-type"]
    assert served.headers["docker-content-digest"] == schema2.headers["docker-content-digest"]
    assert served.content == schema2.content
    pulled = OciLayout(tmp_path / "pulled")
    copy(f"docker://{reference.host}/compat/http:v1", pulled.ref("v1"))
    copy(f"docker://{reference.host}/compat/http:multi", pulled.ref("multi"), "--all")
    assert_same_in_layout(pulled, "v1", image)
    assert_same_in_layout(pulled, "multi", index)


def test_reference_deletes_what_dockyard_wrote(
    tmp_path: Path,
    layout: OciLayout,
    start_dockyard: StartDockyard,
    start_reference: StartReference,
) -> None:
    image = layout.add_image("v1", layers=1)
    root = tmp_path / "root"
    dockyard = start_dockyard(root)
    copy(layout.ref("v1"), f"docker://{dockyard.host}/compat/delete:v1")
    dockyard.stop()

    reference = start_reference(root)
    deleted = httpx.delete(f"{reference.url}/v2/compat/delete/manifests/{image.digest}")
    assert deleted.status_code == 202
    reference.stop()

    dockyard = start_dockyard(root, name="dockyard-again")
    gone = httpx.get(f"{dockyard.url}/v2/compat/delete/manifests/v1")
    assert gone.status_code == 404


# --- (b) the reference writes, dockyard reads ---------------------------------------------


async def test_image_pushed_to_the_reference_is_read_by_dockyard_stores(
    tmp_path: Path, layout: OciLayout, start_reference: StartReference
) -> None:
    image = layout.add_image("v1", layers=3)
    index = layout.add_index("multi", platforms=(("linux", "amd64"), ("linux", "arm64")))
    root = tmp_path / "root"
    reference = start_reference(root)
    copy(layout.ref("v1"), f"docker://{reference.host}/compat/ref:v1")
    copy(layout.ref("multi"), f"docker://{reference.host}/compat/ref:multi", "--all")
    reference.stop()

    await assert_readable_through_stores(root, "compat/ref", "v1", image)
    await assert_readable_through_stores(root, "compat/ref", "multi", index)


def test_image_pushed_to_the_reference_is_served_by_dockyard_serve(
    tmp_path: Path,
    layout: OciLayout,
    start_dockyard: StartDockyard,
    start_reference: StartReference,
) -> None:
    image = layout.add_image("v1", layers=3)
    index = layout.add_index("multi", platforms=(("linux", "amd64"), ("linux", "arm64")))
    root = tmp_path / "root"
    reference = start_reference(root)
    copy(layout.ref("v1"), f"docker://{reference.host}/compat/ref:v1")
    copy(layout.ref("multi"), f"docker://{reference.host}/compat/ref:multi", "--all")
    copy(layout.ref("v1"), f"docker://{reference.host}/compat/docker:v2s2", "--format", "v2s2")
    reference.stop()

    dockyard = start_dockyard(root)
    assert_served(dockyard, "compat/ref", image)
    assert_served(dockyard, "compat/ref", index)
    pulled = OciLayout(tmp_path / "pulled")
    copy(f"docker://{dockyard.host}/compat/ref:v1", pulled.ref("v1"))
    copy(f"docker://{dockyard.host}/compat/ref:multi", pulled.ref("multi"), "--all")
    assert_same_in_layout(pulled, "v1", image)
    assert_same_in_layout(pulled, "multi", index)
    docker = httpx.get(
        f"{dockyard.url}/v2/compat/docker/manifests/v2s2",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    assert docker.status_code == 200
    assert docker.headers["docker-content-digest"] == sha256(docker.content)


def test_dockyard_continues_a_repository_the_reference_started(
    tmp_path: Path,
    layout: OciLayout,
    start_dockyard: StartDockyard,
    start_reference: StartReference,
) -> None:
    first = layout.add_image("v1", layers=2)
    second = layout.add_image("v2", layers=2)
    root = tmp_path / "root"
    reference = start_reference(root)
    copy(layout.ref("v1"), f"docker://{reference.host}/compat/mixed:v1")
    reference.stop()

    dockyard: ServerProcess = start_dockyard(root)
    copy(layout.ref("v2"), f"docker://{dockyard.host}/compat/mixed:v2")
    tags = httpx.get(f"{dockyard.url}/v2/compat/mixed/tags/list").json()["tags"]
    assert tags == ["v1", "v2"]
    dockyard.stop()

    reference = start_reference(root)
    assert_served(reference, "compat/mixed", first)
    assert_served(reference, "compat/mixed", second)
    index_accept = {"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}
    for tag, image in (("v1", first), ("v2", second)):
        response = httpx.get(
            f"{reference.url}/v2/compat/mixed/manifests/{tag}", headers=index_accept
        )
        assert response.headers["docker-content-digest"] == image.digest
