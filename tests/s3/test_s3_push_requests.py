"""Which requests a push makes of the object store (SeaweedFS, through the S3 driver).

The driver signs its small requests itself and finds an upload's multipart upload in its
pending record; these tests watch the SDK client's own request hook (``before-call``),
through which every request the driver leaves to botocore passes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from s3_server import s3_driver_factory

from dockyard.digest import Digest
from dockyard.storage import paths
from dockyard.storage.driver.s3 import S3Driver
from dockyard.storage.registry import StorageRegistry

PART = 5 << 20


async def _body(data: bytes, piece: int = 1 << 20) -> AsyncIterator[bytes]:
    for start in range(0, len(data), piece):
        yield data[start : start + piece]


async def _cut_after(data: bytes) -> AsyncIterator[bytes]:
    """A request body whose client hangs up after sending ``data``."""
    async for piece in _body(data):
        yield piece
    raise ConnectionResetError("the client went away")


async def _sdk_requests(driver: S3Driver) -> list[str]:
    """The names of the operations ``driver`` sends through the SDK from now on."""
    client = await driver._s3()
    sent: list[str] = []

    def record(model: Any, **_: Any) -> None:
        sent.append(model.name)

    client.meta.events.register("before-call.s3", record)
    return sent


async def test_a_pushed_small_blob_makes_no_request_through_the_sdk(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    blob = b"a small layer" * 1000
    async with s3_driver_factory(request, tmp_path) as driver:
        assert isinstance(driver, S3Driver)
        sent = await _sdk_requests(driver)
        repo = StorageRegistry(driver).repository("app")
        status = await repo.uploads.create()
        await repo.uploads.append(status.id, 0, _body(blob))
        await repo.uploads.commit(status.id, Digest.of(blob), len(blob))
        assert (await repo.blobs.stat(Digest.of(blob))).size == len(blob)
    assert sent == []


async def test_a_push_of_several_parts_resumed_after_a_cut_lists_no_multipart_uploads(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    first, cut, rest = b"f" * (PART + 7), b"c" * (2 * PART), b"r" * (PART + 3)
    whole = first + rest
    async with s3_driver_factory(request, tmp_path, chunksize=PART) as driver:
        assert isinstance(driver, S3Driver)
        sent = await _sdk_requests(driver)
        uploads = StorageRegistry(driver).repository("app").uploads
        status = await uploads.create()
        await uploads.append(status.id, 0, _body(first))
        with pytest.raises(ConnectionResetError):
            await uploads.append(status.id, len(first), _cut_after(cut))
        await uploads.append(status.id, len(first), _body(rest))
        descriptor = await uploads.commit(status.id, Digest.of(whole), len(whole))
        assert descriptor.size == len(whole)
        assert await driver.get_content(paths.blob_data(Digest.of(whole))) == whole
    assert "CompleteMultipartUpload" in sent
    assert "ListMultipartUploads" not in sent
