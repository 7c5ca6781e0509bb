"""Upload sessions resume anywhere: another instance, another process, the reference registry.

Nothing about a session lives in process memory, so a session opened by one registry
instance can be continued and committed by another driver instance over the same
storage root, by a separate Python process, or by the reference registry (its hash
state files are Go's marshaled form, which dockyard reads and writes).

The other direction (the reference finishing a dockyard session) is not possible with
dockyard's filesystem driver, which keeps uncommitted data at ``data#partial`` where the
reference expects ``data``; the reference also demands its own signed ``_state`` token.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from s3_server import s3_driver_factory
from storage_helpers import chunks

from dockyard.digest import Digest
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.driver.inmemory import InMemoryDriver
from dockyard.storage.driver.s3 import S3Driver
from dockyard.storage.registry import StorageRegistry

FIRST = b"first chunk " * 5000
SECOND = b"second chunk " * 7000
WHOLE = FIRST + SECOND


async def test_session_continues_in_a_new_registry_on_the_same_driver() -> None:
    driver = InMemoryDriver()
    status = await StorageRegistry(driver).repository("app").uploads.create()
    await StorageRegistry(driver).repository("app").uploads.append(status.id, 0, chunks(FIRST))
    repo = StorageRegistry(driver).repository("app")
    await repo.uploads.append(status.id, len(FIRST), chunks(SECOND))
    descriptor = await repo.uploads.commit(status.id, Digest.of(WHOLE), len(WHOLE))
    assert descriptor.size == len(WHOLE)


async def test_session_continues_on_a_new_filesystem_driver(tmp_path: Path) -> None:
    first = FilesystemDriver(tmp_path)
    uploads = StorageRegistry(first).repository("app").uploads
    status = await uploads.create()
    await uploads.append(status.id, 0, chunks(FIRST))
    await first.close()

    second = FilesystemDriver(tmp_path)
    repo = StorageRegistry(second).repository("app")
    assert (await repo.uploads.status(status.id)).offset == len(FIRST)
    await repo.uploads.append(status.id, len(FIRST), chunks(SECOND))
    descriptor = await repo.uploads.commit(status.id, Digest.of(WHOLE), len(WHOLE))
    assert descriptor.digest == Digest.of(WHOLE)
    assert (await repo.blobs.stat(Digest.of(WHOLE))).size == len(WHOLE)
    await second.close()


_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from dockyard.digest import Digest
    from dockyard.storage.driver.filesystem import FilesystemDriver
    from dockyard.storage.registry import StorageRegistry

    async def main(root, upload_id, offset, path):
        data = open(path, "rb").read()
        async def body():
            yield data
        repo = StorageRegistry(FilesystemDriver(root)).repository("app")
        await repo.uploads.append(upload_id, int(offset), body())

    asyncio.run(main(*sys.argv[1:]))
    """
)


async def test_session_continues_in_another_process(tmp_path: Path) -> None:
    root = tmp_path / "root"
    repo = StorageRegistry(FilesystemDriver(root)).repository("app")
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(FIRST))
    chunk_file = tmp_path / "second"
    chunk_file.write_bytes(SECOND)

    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(root), status.id, str(len(FIRST)), str(chunk_file)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()

    fresh = StorageRegistry(FilesystemDriver(root)).repository("app")
    assert (await fresh.uploads.status(status.id)).offset == len(WHOLE)
    descriptor = await fresh.uploads.commit(status.id, Digest.of(WHOLE), len(WHOLE))
    assert descriptor.size == len(WHOLE)


# --- the reference registry ---------------------------------------------------------------


async def test_session_begun_by_the_reference_registry_is_finished_by_dockyard(
    reference: tuple[str, Path],
) -> None:
    base, root = reference
    async with httpx.AsyncClient(base_url=base) as client:
        started = await client.post("/v2/app/blobs/uploads/")
        assert started.status_code == 202
        location = started.headers["location"]
        patched = await client.patch(
            location,
            content=FIRST,
            headers={"content-type": "application/octet-stream"},
        )
        assert patched.status_code == 202, patched.text
    upload_id = started.headers["docker-upload-uuid"]

    repo = StorageRegistry(FilesystemDriver(root)).repository("app")
    status = await repo.uploads.status(upload_id)
    assert status.offset == len(FIRST)
    assert abs(datetime.now(UTC) - status.started_at) < timedelta(minutes=1)
    await repo.uploads.append(upload_id, len(FIRST), chunks(SECOND))
    descriptor = await repo.uploads.commit(upload_id, Digest.of(WHOLE), len(WHOLE))
    assert descriptor.size == len(WHOLE)

    async with httpx.AsyncClient(base_url=base) as client:
        fetched = await client.get(f"/v2/app/blobs/{Digest.of(WHOLE)}")
    assert fetched.status_code == 200
    assert fetched.content == WHOLE


async def test_session_continues_on_a_new_s3_driver(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    async with s3_driver_factory(request, tmp_path) as first:
        uploads = StorageRegistry(first).repository("app").uploads
        status = await uploads.create()
        await uploads.append(status.id, 0, chunks(FIRST))
    async with s3_driver_factory(request, tmp_path) as second:
        repo = StorageRegistry(second).repository("app")
        assert (await repo.uploads.status(status.id)).offset == len(FIRST)
        await repo.uploads.append(status.id, len(FIRST), chunks(SECOND))
        descriptor = await repo.uploads.commit(status.id, Digest.of(WHOLE), len(WHOLE))
        assert (await repo.blobs.stat(descriptor.digest)).size == len(WHOLE)


async def _cut_after(data: bytes, piece: int) -> AsyncIterator[bytes]:
    """A request body whose client hangs up after sending ``data``."""
    for start in range(0, len(data), piece):
        yield data[start : start + piece]
    raise ConnectionResetError("the client went away")


async def test_patch_of_several_parts_cut_on_s3_resumes_and_finishes(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    part = 5 << 20
    acknowledged, rest = bytes(range(256)) * (part // 128), b"r" * (2 * part + 1)
    whole = acknowledged + rest
    async with s3_driver_factory(request, tmp_path, chunksize=part) as s3:
        assert isinstance(s3, S3Driver)
        named_every_part: list[bool] = []
        call = s3._call

        async def audited(operation: str, path: str, **kwargs: Any) -> Any:
            if operation == "complete_multipart_upload":
                held = set(await s3._list_parts(path, kwargs["UploadId"]))
                named = {p["PartNumber"] for p in kwargs["MultipartUpload"]["Parts"]}
                named_every_part.append(named == held)
            return await call(operation, path, **kwargs)

        monkeypatch.setattr(s3, "_call", audited)
        uploads = StorageRegistry(s3).repository("app").uploads
        status = await uploads.create()
        await uploads.append(status.id, 0, chunks(acknowledged))
        with pytest.raises(ConnectionResetError):
            await uploads.append(
                status.id, len(acknowledged), _cut_after(rest[: 2 * part], 1 << 20)
            )
        assert (await uploads.status(status.id)).offset == len(acknowledged)
        await uploads.append(status.id, len(acknowledged), chunks(rest))
        descriptor = await uploads.commit(status.id, Digest.of(whole), len(whole))
        assert descriptor.size == len(whole)
        assert named_every_part
        assert all(named_every_part)


async def test_patch_cut_on_s3_after_an_offset_inside_a_part_resumes_from_that_offset(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    part = 5 << 20
    # Acknowledged up to 7 bytes past a part, which the cut PATCH's first part then holds.
    acknowledged, cut, rest = b"a" * (part + 7), b"c" * (2 * part), b"r" * (part + 3)
    whole = acknowledged + rest
    async with s3_driver_factory(request, tmp_path, chunksize=part) as s3:
        uploads = StorageRegistry(s3).repository("app").uploads
        status = await uploads.create()
        await uploads.append(status.id, 0, chunks(acknowledged))
        with pytest.raises(ConnectionResetError):
            await uploads.append(status.id, len(acknowledged), _cut_after(cut, 1 << 20))
        assert (await uploads.status(status.id)).offset == len(acknowledged)
        await uploads.append(status.id, len(acknowledged), chunks(rest))
        descriptor = await uploads.commit(status.id, Digest.of(whole), len(whole))
        assert descriptor.size == len(whole)
