"""Crashes lose nothing acknowledged: an upload cut by a kill at any moment resumes.

Each test runs one request of an upload session (a chunk, or the closing PUT) on a
driver that dies before its n-th change to storage, for every n until the request
completes (``crash_driver``). Then a registry started afresh on the same storage must
answer the session's status with the bytes acknowledged before the cut (and finish the
upload from there), or say the session is unknown because its blob was committed and
linked. Small bodies and bodies larger than one batch take different steps, so both
are cut.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from crash_driver import Crashed, CrashingDriver
from storage_helpers import ALL_DRIVERS, chunks, collect

from dockyard.digest import Digest
from dockyard.errors import BlobUploadUnknown
from dockyard.storage import paths
from dockyard.storage.driver.base import StorageDriver
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.registry import StorageRegistry, StorageRepository
from dockyard.storage.uploads import WHOLE_BODY_MAX

pytestmark = ALL_DRIVERS

SMALL = (b"first chunk " * 100, b"second chunk " * 100)
LARGE = (b"f" * (WHOLE_BODY_MAX + 4096), b"s" * (WHOLE_BODY_MAX + 8192))

#: A request of the session ``upload_id`` on ``repo``, holding ``first`` acknowledged.
Request = Callable[[StorageRepository, str, bytes, bytes], Awaitable[object]]


async def _patch(repo: StorageRepository, upload_id: str, first: bytes, second: bytes) -> object:
    return await repo.uploads.append(upload_id, len(first), chunks(second))


async def _put_with_body(
    repo: StorageRepository, upload_id: str, first: bytes, second: bytes
) -> object:
    return await repo.uploads.commit(upload_id, Digest.of(first + second), None, chunks(second))


async def _put_without_body(
    repo: StorageRepository, upload_id: str, first: bytes, second: bytes
) -> object:
    return await repo.uploads.commit(upload_id, Digest.of(first + second), len(first + second))


@pytest.fixture
async def restarted(driver: StorageDriver) -> AsyncIterator[Callable[[], StorageRegistry]]:
    """Registries on the storage ``driver`` holds, as a new process would open it."""
    opened: list[StorageDriver] = []

    def restart() -> StorageRegistry:
        if isinstance(driver, FilesystemDriver):
            fresh = FilesystemDriver(Path(driver.root))
            opened.append(fresh)
            return StorageRegistry(fresh)
        return StorageRegistry(driver)

    yield restart
    for fresh in opened:
        await fresh.close()


async def _cut_at_every_step(
    driver: StorageDriver,
    restart: Callable[[], StorageRegistry],
    request: Request,
    parts: tuple[bytes, bytes],
    *,
    second_acknowledged: bool,
    in_flight_may_count: bool,
) -> int:
    """Run ``request`` cut before each of its changes in turn; check every outcome.

    ``second_acknowledged``: the second part was appended (and answered) before the
    request. ``in_flight_may_count``: the request itself acknowledges bytes (a chunk),
    so a cut after its acknowledgement was saved may report them too. Returns the cuts.
    """
    for crash_at in itertools.count():
        # Content of its own each time: a blob stored already takes fewer steps.
        first, second = f"cut {crash_at:04d} ".encode() + parts[0], parts[1]
        whole = first + second
        repo = StorageRegistry(driver).repository(f"crash/at{crash_at}")
        session = await repo.uploads.create()
        await repo.uploads.append(session.id, 0, chunks(first))
        acknowledged = len(first)
        if second_acknowledged:
            await repo.uploads.append(session.id, len(first), chunks(second))
            acknowledged = len(whole)
        crashing = CrashingDriver(driver, crash_at)
        try:
            await request(
                StorageRegistry(crashing).repository(repo.name), session.id, first, second
            )
        except Crashed:
            pass
        else:
            return crash_at
        after = restart().repository(repo.name)
        try:
            status = await after.uploads.status(session.id)
        except BlobUploadUnknown:
            descriptor = await after.blobs.stat(Digest.of(whole))
            assert descriptor.size == len(whole), f"cut {crash_at}"
            content = await after.blobs.open(Digest.of(whole))
            assert content.stream is None or await collect(content.stream) == whole
            continue
        allowed = {acknowledged, len(whole)} if in_flight_may_count else {acknowledged}
        assert status.offset in allowed, f"cut {crash_at}: at {status.offset}"
        if status.offset < len(whole):
            rest = whole[status.offset :]
            await after.uploads.append(session.id, status.offset, chunks(rest))
        stored = await after.uploads.commit(session.id, Digest.of(whole), len(whole))
        assert stored.size == len(whole), f"cut {crash_at}"
        with pytest.raises(BlobUploadUnknown):
            await after.uploads.status(session.id)
    raise AssertionError("unreachable")


@pytest.mark.parametrize("parts", [SMALL, LARGE], ids=["small", "large"])
async def test_chunk_cut_at_any_step_resumes_from_what_was_acknowledged(
    driver: StorageDriver, restarted: Callable[[], StorageRegistry], parts: tuple[bytes, bytes]
) -> None:
    cuts = await _cut_at_every_step(
        driver, restarted, _patch, parts, second_acknowledged=False, in_flight_may_count=True
    )
    assert cuts > 1


@pytest.mark.parametrize("parts", [SMALL, LARGE], ids=["small", "large"])
async def test_closing_put_with_a_body_cut_at_any_step_resumes_or_is_linked(
    driver: StorageDriver, restarted: Callable[[], StorageRegistry], parts: tuple[bytes, bytes]
) -> None:
    cuts = await _cut_at_every_step(
        driver,
        restarted,
        _put_with_body,
        parts,
        second_acknowledged=False,
        in_flight_may_count=False,
    )
    assert cuts > 1


async def test_closing_put_without_a_body_cut_at_any_step_resumes_or_is_linked(
    driver: StorageDriver, restarted: Callable[[], StorageRegistry]
) -> None:
    cuts = await _cut_at_every_step(
        driver,
        restarted,
        _put_without_body,
        SMALL,
        second_acknowledged=True,
        in_flight_may_count=False,
    )
    assert cuts > 1


async def test_a_commit_cut_with_an_intent_written_by_an_earlier_build_is_finished(
    driver: StorageDriver, restarted: Callable[[], StorageRegistry]
) -> None:
    data = b"committed before the cut " * 40
    digest = Digest.of(data)
    repo = StorageRegistry(driver).repository("crash/earlier")
    session = await repo.uploads.create()
    await repo.uploads.append(session.id, 0, chunks(data))
    # The closing PUT of an earlier build, cut after the data became the blob: its intent
    # was a file holding the digest, and the session's data is gone.
    await driver.put_content(
        f"{paths.upload_dir(repo.name, session.id)}/committing", str(digest).encode()
    )
    await driver.put_content(paths.blob_data(digest), data)
    after = restarted().repository(repo.name)
    with pytest.raises(BlobUploadUnknown):
        await after.uploads.status(session.id)
    assert (await after.blobs.stat(digest)).size == len(data)
