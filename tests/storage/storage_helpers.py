"""Helpers for the registry services tests: chunk streams, blobs and manifest bodies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.manifest.base import OCI_INDEX, OCI_MANIFEST
from dockyard.storage.driver.base import (
    FileInfo,
    FileWriter,
    OpenFile,
    StorageDriver,
)
from dockyard.storage.registry import StorageRepository

#: Every test that asks for the ``driver`` fixture runs on these.
DRIVERS = ["inmemory", "filesystem"]
#: Modules where the driver's writer semantics matter most also run on S3 (SeaweedFS):
#: ``pytestmark = ALL_DRIVERS``.
ALL_DRIVERS = pytest.mark.parametrize("driver", [*DRIVERS, "s3"], indirect=True)

CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    """An async stream of ``parts``, as a request body arrives."""
    for part in parts:
        yield part


async def collect(stream: AsyncIterator[bytes] | None) -> bytes:
    assert stream is not None
    return b"".join([part async for part in stream])


async def push_blob(
    repo: StorageRepository, data: bytes, media_type: str = LAYER_TYPE
) -> Descriptor:
    """Upload ``data`` through a session and return its descriptor (with ``media_type``)."""
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(data))
    stored = await repo.uploads.commit(status.id, Digest.of(data), len(data))
    return Descriptor(media_type=media_type, digest=stored.digest, size=stored.size)


def descriptor_json(descriptor: Descriptor) -> dict[str, Any]:
    return descriptor.to_json()


def image_manifest(
    config: Descriptor,
    layers: list[Descriptor],
    *,
    subject: Descriptor | None = None,
    artifact_type: str | None = None,
    annotations: dict[str, str] | None = None,
) -> bytes:
    """An OCI image manifest body."""
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.to_json(),
        "layers": [layer.to_json() for layer in layers],
    }
    if subject is not None:
        body["subject"] = subject.to_json()
    if artifact_type is not None:
        body["artifactType"] = artifact_type
    if annotations is not None:
        body["annotations"] = annotations
    return json.dumps(body, indent=3).encode()


def index_manifest(children: list[Descriptor]) -> bytes:
    """An OCI image index body."""
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [child.to_json() for child in children],
    }
    return json.dumps(body).encode()


def fake_descriptor(label: bytes, media_type: str = LAYER_TYPE) -> Descriptor:
    """A descriptor of content that was never pushed."""
    return Descriptor(media_type=media_type, digest=Digest.of(label), size=len(label))


async def push_image(
    repo: StorageRepository, seed: bytes = b"", **extra: Any
) -> tuple[bytes, Descriptor, Descriptor]:
    """Push a config, one layer and a manifest; returns (body, config, layer)."""
    config = await push_blob(repo, b'{"seed":"' + seed + b'"}', CONFIG_TYPE)
    layer = await push_blob(repo, b"layer bytes " + seed)
    body = image_manifest(config, [layer], **extra)
    await repo.manifests.put(body, OCI_MANIFEST)
    return body, config, layer


class RecordingDriver(StorageDriver):
    """A real driver that records every write that makes content visible, in order.

    Events: ``("put", path)``, ``("commit", path)``, ``("move", destination)``,
    ``("delete", path)``, ``("close", path)``. Plans run step by step through these
    methods (the generic ``StorageDriver.run``), so every step is recorded.
    """

    def __init__(self, inner: StorageDriver) -> None:
        self.inner = inner
        self.events: list[tuple[str, str]] = []
        self.name = inner.name

    def index(self, kind: str, predicate: Callable[[str], bool]) -> int:
        """Position of the first event of ``kind`` whose path matches ``predicate``."""
        for position, (event, path) in enumerate(self.events):
            if event == kind and predicate(path):
                return position
        raise AssertionError(f"no {kind} event matched")

    async def get_content(self, path: str) -> bytes:
        return await self.inner.get_content(path)

    async def put_content(self, path: str, content: bytes) -> None:
        await self.inner.put_content(path, content)
        self.events.append(("put", path))

    async def reader(
        self, path: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        return await self.inner.reader(path, offset, length)

    async def writer(self, path: str, append: bool = False) -> FileWriter:
        return _RecordingWriter(self, path, await self.inner.writer(path, append))

    async def stat(self, path: str) -> FileInfo:
        return await self.inner.stat(path)

    async def list(self, path: str) -> list[str]:
        return await self.inner.list(path)

    async def move(self, source: str, destination: str) -> None:
        await self.inner.move(source, destination)
        self.events.append(("move", destination))

    async def delete(self, path: str) -> None:
        await self.inner.delete(path)
        self.events.append(("delete", path))

    def open_file(self, path: str) -> OpenFile | None:
        return self.inner.open_file(path)


class _RecordingWriter(FileWriter):
    def __init__(self, driver: RecordingDriver, path: str, inner: FileWriter) -> None:
        self._driver = driver
        self._path = path
        self._inner = inner

    @property
    def size(self) -> int:
        return self._inner.size

    async def write(self, data: bytes) -> int:
        return await self._inner.write(data)

    async def truncate(self, size: int) -> None:
        await self._inner.truncate(size)

    async def close(self) -> None:
        await self._inner.close()
        self._driver.events.append(("close", self._path))

    async def commit(self) -> None:
        await self._inner.commit()
        self._driver.events.append(("commit", self._path))

    async def cancel(self) -> None:
        await self._inner.cancel()
