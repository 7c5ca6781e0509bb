"""Upload sessions: create, append at the right offset, verify and publish on commit."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from storage_helpers import ALL_DRIVERS, RecordingDriver, chunks

from dockyard.digest import Digest, ResumableHasher
from dockyard.errors import (
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    SizeInvalid,
    UploadOffsetMismatch,
)
from dockyard.storage import paths
from dockyard.storage.driver.base import FileWriter, PathNotFound, StorageDriver
from dockyard.storage.registry import StorageRegistry, StorageRepository
from dockyard.storage.uploads import BATCH_SIZE, WHOLE_BODY_MAX

pytestmark = ALL_DRIVERS

ALPHA = b"alpha-" * 1000
BETA = b"beta-" * 1000


async def hashstate_offsets(
    driver: StorageDriver, repo: StorageRepository, upload_id: str
) -> list[int]:
    entries = await driver.list(paths.upload_hashstates_dir(repo.name, upload_id, "sha256"))
    return sorted(int(entry.rsplit("/", 1)[-1]) for entry in entries)


# --- create and status --------------------------------------------------------------------


async def test_create_returns_empty_session_with_uuid(repo: StorageRepository) -> None:
    status = await repo.uploads.create()
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", status.id)
    assert status.offset == 0
    assert status.repository == repo.name


async def test_create_writes_startedat_in_rfc3339_utc(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    status = await repo.uploads.create()
    text = (await driver.get_content(paths.upload_started_at(repo.name, status.id))).decode()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text)
    assert abs(datetime.now(UTC) - status.started_at) < timedelta(seconds=5)


async def test_create_writes_only_the_start_time(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    status = await repo.uploads.create()
    session = paths.upload_dir(repo.name, status.id)
    assert await driver.list(session) == [paths.upload_started_at(repo.name, status.id)]


async def test_status_reports_offset_and_start(repo: StorageRepository) -> None:
    created = await repo.uploads.create()
    await repo.uploads.append(created.id, 0, chunks(ALPHA))
    status = await repo.uploads.status(created.id)
    assert status.offset == len(ALPHA)
    assert status.started_at == created.started_at


async def test_status_of_unknown_session_raises_blob_upload_unknown(
    repo: StorageRepository,
) -> None:
    with pytest.raises(BlobUploadUnknown):
        await repo.uploads.status("0b0e3c9e-5f8a-4c1e-9d7a-3c0e6b2a1f00")


@pytest.mark.parametrize(
    "bad_id", ["..", "not-a-uuid", "0B0E3C9E-5F8A-4C1E-9D7A-3C0E6B2A1F00", "a/b"]
)
async def test_malformed_session_id_raises_blob_upload_unknown(
    repo: StorageRepository, bad_id: str
) -> None:
    with pytest.raises(BlobUploadUnknown):
        await repo.uploads.status(bad_id)
    with pytest.raises(BlobUploadUnknown):
        await repo.uploads.append(bad_id, 0, chunks(b"x"))
    with pytest.raises(BlobUploadUnknown):
        await repo.uploads.commit(bad_id, Digest.of(b"x"))
    with pytest.raises(BlobUploadUnknown):
        await repo.uploads.cancel(bad_id)


async def test_session_of_another_repository_is_unknown(registry: StorageRegistry) -> None:
    status = await registry.repository("one").uploads.create()
    with pytest.raises(BlobUploadUnknown):
        await registry.repository("two").uploads.status(status.id)


# --- append -------------------------------------------------------------------------------


async def test_append_returns_new_offset(repo: StorageRepository) -> None:
    status = await repo.uploads.create()
    after = await repo.uploads.append(status.id, 0, chunks(ALPHA))
    assert after.offset == len(ALPHA)


async def test_appends_accumulate(repo: StorageRepository) -> None:
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(ALPHA))
    after = await repo.uploads.append(status.id, len(ALPHA), chunks(BETA))
    assert after.offset == len(ALPHA) + len(BETA)


async def test_append_at_wrong_offset_raises_offset_mismatch_with_current_size(
    repo: StorageRepository,
) -> None:
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(ALPHA))
    with pytest.raises(UploadOffsetMismatch) as caught:
        await repo.uploads.append(status.id, 3, chunks(BETA))
    assert caught.value.expected == len(ALPHA)
    assert caught.value.got == 3


async def test_rejected_chunk_leaves_session_unchanged(repo: StorageRepository) -> None:
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(ALPHA))
    with pytest.raises(UploadOffsetMismatch):
        await repo.uploads.append(status.id, 0, chunks(BETA))
    descriptor = await repo.uploads.commit(status.id, Digest.of(ALPHA), len(ALPHA))
    assert descriptor.size == len(ALPHA)


async def test_append_to_unknown_session_raises_blob_upload_unknown(
    repo: StorageRepository,
) -> None:
    with pytest.raises(BlobUploadUnknown):
        await repo.uploads.append("0b0e3c9e-5f8a-4c1e-9d7a-3c0e6b2a1f00", 0, chunks(ALPHA))


async def test_append_keeps_only_the_latest_hash_state(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(ALPHA))
    await repo.uploads.append(status.id, len(ALPHA), chunks(BETA))
    assert await hashstate_offsets(driver, repo, status.id) == [len(ALPHA) + len(BETA)]


async def test_saved_hash_state_matches_the_bytes_so_far(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(ALPHA))
    state = await driver.get_content(
        paths.upload_hashstate(repo.name, status.id, "sha256", len(ALPHA))
    )
    assert ResumableHasher.restore("sha256", state).digest() == Digest.of(ALPHA)


async def test_append_of_many_small_and_large_chunks_hashes_everything(
    repo: StorageRepository,
) -> None:
    parts = [b"x" * 7] * 500 + [b"y" * (BATCH_SIZE + 3)] + [b""] + [b"z" * 70_000] * 3
    data = b"".join(parts)
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(*parts))
    descriptor = await repo.uploads.commit(status.id, Digest.of(data), len(data))
    assert descriptor.size == len(data)


async def test_empty_append_keeps_offset(repo: StorageRepository) -> None:
    status = await repo.uploads.create()
    after = await repo.uploads.append(status.id, 0, chunks())
    assert after.offset == 0


async def _failing_stream(data: bytes) -> AsyncIterator[bytes]:
    yield data
    raise ConnectionResetError("client went away")


async def test_interrupted_chunk_is_not_acknowledged(repo: StorageRepository) -> None:
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(ALPHA))
    with pytest.raises(ConnectionResetError):
        await repo.uploads.append(status.id, len(ALPHA), _failing_stream(b"partial" * 500_000))
    assert (await repo.uploads.status(status.id)).offset == len(ALPHA)


async def test_resume_after_interrupted_chunk_drops_unacknowledged_bytes(
    repo: StorageRepository,
) -> None:
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(ALPHA))
    with pytest.raises(ConnectionResetError):
        await repo.uploads.append(status.id, len(ALPHA), _failing_stream(b"partial" * 500_000))
    await repo.uploads.append(status.id, len(ALPHA), chunks(BETA))
    descriptor = await repo.uploads.commit(status.id, Digest.of(ALPHA + BETA))
    assert descriptor.size == len(ALPHA) + len(BETA)


async def test_interrupted_small_chunk_writes_nothing(repo: StorageRepository) -> None:
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(ALPHA))
    with pytest.raises(ConnectionResetError):
        await repo.uploads.append(status.id, len(ALPHA), _failing_stream(b"cut"))
    await repo.uploads.append(status.id, len(ALPHA), chunks(BETA))
    descriptor = await repo.uploads.commit(status.id, Digest.of(ALPHA + BETA))
    assert descriptor.size == len(ALPHA) + len(BETA)


async def test_first_chunk_replaces_bytes_of_a_cut_off_first_chunk(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    status = await repo.uploads.create()
    # Bytes a crashed process wrote but never acknowledged.
    writer = await driver.writer(paths.upload_data(repo.name, status.id))
    await writer.write(b"unacknowledged")
    await writer.close()
    assert (await repo.uploads.append(status.id, 0, chunks(ALPHA))).offset == len(ALPHA)
    descriptor = await repo.uploads.commit(status.id, Digest.of(ALPHA))
    assert descriptor.size == len(ALPHA)


async def test_session_with_a_saved_state_at_zero_resumes(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    status = await repo.uploads.create()
    # As the reference registry and earlier dockyard versions open a session.
    await driver.put_content(
        paths.upload_hashstate(repo.name, status.id, "sha256", 0), ResumableHasher("sha256").save()
    )
    await repo.uploads.append(status.id, 0, chunks(ALPHA))
    await repo.uploads.append(status.id, len(ALPHA), chunks(BETA))
    assert (await repo.uploads.status(status.id)).offset == len(ALPHA) + len(BETA)
    descriptor = await repo.uploads.commit(status.id, Digest.of(ALPHA + BETA))
    assert descriptor.size == len(ALPHA) + len(BETA)


async def test_chunk_larger_than_a_whole_body_streams_in(repo: StorageRepository) -> None:
    big = bytes(range(256)) * ((WHOLE_BODY_MAX + 4096) // 256)
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(ALPHA))
    parts = [big[i : i + 65536] for i in range(0, len(big), 65536)]
    assert (await repo.uploads.append(status.id, len(ALPHA), chunks(*parts))).offset == len(
        ALPHA
    ) + len(big)
    descriptor = await repo.uploads.commit(status.id, Digest.of(ALPHA + big), final_chunks=None)
    assert descriptor.size == len(ALPHA) + len(big)


async def test_commit_of_a_blob_stored_already_links_it_and_removes_the_session(
    repo: StorageRepository, registry: StorageRegistry, driver: StorageDriver
) -> None:
    other = registry.repository("other/app")
    await other.uploads.upload(Digest.of(ALPHA), chunks(ALPHA))
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(ALPHA))
    descriptor = await repo.uploads.commit(status.id, Digest.of(ALPHA))
    assert descriptor.size == len(ALPHA)
    assert (await repo.blobs.stat(Digest.of(ALPHA))).size == len(ALPHA)
    with pytest.raises(PathNotFound):
        await driver.stat(paths.upload_dir(repo.name, status.id))


async def test_append_to_a_session_with_unreadable_startedat_still_works(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    status = await repo.uploads.create()
    await driver.put_content(paths.upload_started_at(repo.name, status.id), b"yesterday-ish")
    assert (await repo.uploads.append(status.id, 0, chunks(ALPHA))).offset == len(ALPHA)
    descriptor = await repo.uploads.commit(status.id, Digest.of(ALPHA))
    assert descriptor.size == len(ALPHA)


# --- upload in one request ---------------------------------------------------------------


async def test_upload_publishes_blob_and_links_it(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    descriptor = await repo.uploads.upload(Digest.of(ALPHA + BETA), chunks(ALPHA, BETA))
    assert descriptor.digest == Digest.of(ALPHA + BETA)
    assert descriptor.size == len(ALPHA) + len(BETA)
    assert await driver.get_content(paths.blob_data(descriptor.digest)) == ALPHA + BETA
    assert (await repo.blobs.stat(descriptor.digest)).size == len(ALPHA) + len(BETA)


async def test_upload_leaves_no_upload_folder(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    await repo.uploads.upload(Digest.of(ALPHA), chunks(ALPHA))
    with pytest.raises(PathNotFound):
        await driver.list(paths.uploads_dir(repo.name))


async def test_upload_without_body_stores_the_empty_blob(repo: StorageRepository) -> None:
    descriptor = await repo.uploads.upload(Digest.of(b""))
    assert descriptor.size == 0
    assert (await repo.blobs.stat(Digest.of(b""))).size == 0


async def test_upload_with_wrong_digest_raises_and_keeps_nothing(
    repo: StorageRepository, registry: StorageRegistry, driver: StorageDriver
) -> None:
    with pytest.raises(DigestInvalid):
        await repo.uploads.upload(Digest.of(BETA), chunks(ALPHA))
    for digest in (Digest.of(ALPHA), Digest.of(BETA)):
        with pytest.raises(BlobUnknown):
            await registry.blob_store.stat(digest)
    with pytest.raises(PathNotFound):
        await driver.list(paths.uploads_dir(repo.name))


async def test_upload_cut_short_keeps_nothing(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield ALPHA
        raise BlobUploadInvalid("the client disconnected")

    with pytest.raises(BlobUploadInvalid):
        await repo.uploads.upload(Digest.of(ALPHA), broken())
    with pytest.raises(PathNotFound):
        await driver.list(paths.uploads_dir(repo.name))


async def test_upload_of_existing_blob_links_it(
    registry: StorageRegistry, repo: StorageRepository
) -> None:
    await registry.blob_store.put(ALPHA)
    descriptor = await repo.uploads.upload(Digest.of(ALPHA), chunks(ALPHA))
    assert (await repo.blobs.stat(descriptor.digest)).size == len(ALPHA)


async def test_upload_verifies_sha512_digest(repo: StorageRepository) -> None:
    digest = Digest("sha512", hashlib.sha512(ALPHA).hexdigest())
    descriptor = await repo.uploads.upload(digest, chunks(ALPHA))
    assert (await repo.blobs.stat(descriptor.digest)).size == len(ALPHA)


# --- commit -------------------------------------------------------------------------------


async def test_commit_publishes_blob_and_links_it(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(ALPHA))
    descriptor = await repo.uploads.commit(status.id, Digest.of(ALPHA), len(ALPHA))
    assert descriptor.digest == Digest.of(ALPHA)
    assert await driver.get_content(paths.blob_data(Digest.of(ALPHA))) == ALPHA
    assert (await repo.blobs.stat(Digest.of(ALPHA))).size == len(ALPHA)


async def test_commit_removes_the_session(repo: StorageRepository, driver: StorageDriver) -> None:
    status = await repo.uploads.create()
    await repo.uploads.commit(status.id, Digest.of(ALPHA), final_chunks=chunks(ALPHA))
    with pytest.raises(BlobUploadUnknown):
        await repo.uploads.status(status.id)
    with pytest.raises(PathNotFound):
        await driver.stat(paths.upload_dir(repo.name, status.id))


async def test_commit_with_final_chunk_appends_it(repo: StorageRepository) -> None:
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(ALPHA))
    descriptor = await repo.uploads.commit(
        status.id, Digest.of(ALPHA + BETA), len(ALPHA) + len(BETA), chunks(BETA)
    )
    assert descriptor.size == len(ALPHA) + len(BETA)


async def test_monolithic_commit_without_append(repo: StorageRepository) -> None:
    status = await repo.uploads.create()
    descriptor = await repo.uploads.commit(status.id, Digest.of(ALPHA), None, chunks(ALPHA))
    assert descriptor.size == len(ALPHA)


async def test_commit_of_empty_blob(repo: StorageRepository) -> None:
    status = await repo.uploads.create()
    descriptor = await repo.uploads.commit(status.id, Digest.of(b""), 0)
    assert descriptor.size == 0
    assert (await repo.blobs.stat(Digest.of(b""))).size == 0


async def test_commit_with_wrong_digest_raises_digest_invalid(repo: StorageRepository) -> None:
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(ALPHA))
    with pytest.raises(DigestInvalid):
        await repo.uploads.commit(status.id, Digest.of(BETA))


async def test_digest_mismatch_removes_session_and_publishes_nothing(
    repo: StorageRepository, registry: StorageRegistry
) -> None:
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(ALPHA))
    with pytest.raises(DigestInvalid):
        await repo.uploads.commit(status.id, Digest.of(BETA))
    with pytest.raises(BlobUploadUnknown):
        await repo.uploads.status(status.id)
    for digest in (Digest.of(ALPHA), Digest.of(BETA)):
        with pytest.raises(BlobUnknown):
            await registry.blob_store.stat(digest)


async def test_commit_with_wrong_size_raises_size_invalid(repo: StorageRepository) -> None:
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(ALPHA))
    with pytest.raises(SizeInvalid):
        await repo.uploads.commit(status.id, Digest.of(ALPHA), len(ALPHA) + 1)


async def test_truncated_upload_fails_digest_check(repo: StorageRepository) -> None:
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(ALPHA[:-10]))
    with pytest.raises(DigestInvalid):
        await repo.uploads.commit(status.id, Digest.of(ALPHA))


async def test_size_mismatch_removes_session(repo: StorageRepository) -> None:
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(ALPHA))
    with pytest.raises(SizeInvalid):
        await repo.uploads.commit(status.id, Digest.of(ALPHA), 1)
    with pytest.raises(BlobUploadUnknown):
        await repo.uploads.status(status.id)


async def test_commit_of_unknown_session_raises_blob_upload_unknown(
    repo: StorageRepository,
) -> None:
    with pytest.raises(BlobUploadUnknown):
        await repo.uploads.commit("0b0e3c9e-5f8a-4c1e-9d7a-3c0e6b2a1f00", Digest.of(ALPHA))


async def test_commit_twice_raises_blob_upload_unknown(repo: StorageRepository) -> None:
    status = await repo.uploads.create()
    await repo.uploads.commit(status.id, Digest.of(ALPHA), final_chunks=chunks(ALPHA))
    with pytest.raises(BlobUploadUnknown):
        await repo.uploads.commit(status.id, Digest.of(ALPHA))


async def test_commit_of_existing_blob_keeps_content_and_links(
    registry: StorageRegistry, repo: StorageRepository
) -> None:
    await registry.blob_store.put(ALPHA)
    status = await repo.uploads.create()
    descriptor = await repo.uploads.commit(status.id, Digest.of(ALPHA), final_chunks=chunks(ALPHA))
    assert descriptor.size == len(ALPHA)
    assert (await repo.blobs.stat(Digest.of(ALPHA))).size == len(ALPHA)
    with pytest.raises(BlobUploadUnknown):
        await repo.uploads.status(status.id)


async def test_commit_verifies_sha512_digest(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    digest = Digest("sha512", hashlib.sha512(ALPHA + BETA).hexdigest())
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(ALPHA))
    descriptor = await repo.uploads.commit(status.id, digest, final_chunks=chunks(BETA))
    assert descriptor.digest == digest
    assert await driver.get_content(paths.blob_data(digest)) == ALPHA + BETA
    assert (await repo.blobs.stat(digest)).size == len(ALPHA) + len(BETA)


async def test_commit_with_wrong_sha512_digest_raises_digest_invalid(
    repo: StorageRepository,
) -> None:
    digest = Digest("sha512", hashlib.sha512(BETA).hexdigest())
    status = await repo.uploads.create()
    with pytest.raises(DigestInvalid):
        await repo.uploads.commit(status.id, digest, final_chunks=chunks(ALPHA))


# --- cancel and purge ---------------------------------------------------------------------


async def test_cancel_removes_session(repo: StorageRepository) -> None:
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(ALPHA))
    await repo.uploads.cancel(status.id)
    with pytest.raises(BlobUploadUnknown):
        await repo.uploads.status(status.id)


async def test_cancel_of_unknown_session_raises_blob_upload_unknown(
    repo: StorageRepository,
) -> None:
    with pytest.raises(BlobUploadUnknown):
        await repo.uploads.cancel("0b0e3c9e-5f8a-4c1e-9d7a-3c0e6b2a1f00")


async def test_append_after_cancel_raises_blob_upload_unknown(repo: StorageRepository) -> None:
    status = await repo.uploads.create()
    await repo.uploads.cancel(status.id)
    with pytest.raises(BlobUploadUnknown):
        await repo.uploads.append(status.id, 0, chunks(ALPHA))


async def _age(driver: StorageDriver, repo: StorageRepository, upload_id: str, days: int) -> None:
    moment = datetime.now(UTC) - timedelta(days=days)
    await driver.put_content(
        paths.upload_started_at(repo.name, upload_id),
        moment.strftime("%Y-%m-%dT%H:%M:%SZ").encode(),
    )


async def test_purge_removes_only_old_sessions(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    old = await repo.uploads.create()
    fresh = await repo.uploads.create()
    await _age(driver, repo, old.id, 10)
    assert await repo.uploads.purge(timedelta(days=7)) == 1
    with pytest.raises(BlobUploadUnknown):
        await repo.uploads.status(old.id)
    assert (await repo.uploads.status(fresh.id)).offset == 0


async def test_registry_purge_walks_every_repository(
    registry: StorageRegistry, driver: StorageDriver
) -> None:
    repos = [registry.repository(name) for name in ("a", "b/c", "b/c/d")]
    for repository in repos:
        status = await repository.uploads.create()
        await _age(driver, repository, status.id, 10)
        await repository.uploads.create()
    assert await registry.purge_uploads(timedelta(days=7)) == 3
    assert await registry.purge_uploads(timedelta(days=7)) == 0


async def test_purge_with_no_uploads_returns_zero(registry: StorageRegistry) -> None:
    assert await registry.purge_uploads(timedelta(days=7)) == 0
    assert await registry.repository("none").uploads.purge(timedelta(days=7)) == 0


class _DiskFullDriver(RecordingDriver):
    """A real driver whose writers fail once ``limit`` bytes were written (a full disk)."""

    def __init__(self, inner: StorageDriver, limit: int) -> None:
        super().__init__(inner)
        self.limit = limit

    async def writer(self, path: str, append: bool = False) -> FileWriter:
        inner = await self.inner.writer(path, append)
        driver = self
        original = inner.write

        async def write(data: bytes) -> int:
            if driver.limit <= 0:
                raise OSError(28, "No space left on device")
            driver.limit -= len(data)
            return await original(data)

        inner.write = write  # type: ignore[method-assign]
        return inner


async def test_write_failure_mid_chunk_is_not_acknowledged(driver: StorageDriver) -> None:
    failing = _DiskFullDriver(driver, limit=2 * BATCH_SIZE)
    repo = StorageRegistry(failing).repository("app")
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, chunks(ALPHA))
    with pytest.raises(OSError, match="No space"):
        await repo.uploads.append(status.id, len(ALPHA), chunks(*[b"z" * BATCH_SIZE] * 5))
    assert (await repo.uploads.status(status.id)).offset == len(ALPHA)
    failing.limit = 10 * BATCH_SIZE
    await repo.uploads.append(status.id, len(ALPHA), chunks(BETA))
    descriptor = await repo.uploads.commit(status.id, Digest.of(ALPHA + BETA))
    assert descriptor.size == len(ALPHA) + len(BETA)


async def test_unreadable_startedat_counts_from_when_it_was_written(
    repo: StorageRepository, driver: StorageDriver
) -> None:
    status = await repo.uploads.create()
    await driver.put_content(paths.upload_started_at(repo.name, status.id), b"yesterday-ish")
    assert abs(datetime.now(UTC) - (await repo.uploads.status(status.id)).started_at) < timedelta(
        minutes=1
    )
    assert await repo.uploads.purge(timedelta(days=1)) == 0
