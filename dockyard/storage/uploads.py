"""Resumable blob upload sessions, in the reference registry's ``_uploads`` layout.

A session is a folder ``_uploads/<id>/`` holding ``startedat`` (RFC 3339, UTC), the
uncommitted ``data`` (from the first chunk on) and ``hashstates/sha256/<offset>``: the
sha256 state after the first ``offset`` bytes, in Go's marshaled form. A hash state file
is the acknowledgement of a chunk: it is written only after the chunk's bytes are
durable, so the largest saved offset is the last byte the registry promised to keep.
Bytes past it (a chunk cut off mid-way) are truncated when the session resumes. Nothing
lives in process memory, so any process sharing the storage, including the reference
registry, can resume a session.

sha512 commits: only the sha256 state is kept while bytes stream in (nearly every client
uses sha256). A commit that asks for a sha512 digest re-reads the committed upload data
once, streaming it through ``hashlib`` in worker threads.

On drivers that offer blocking files (local disks), a request whose body is small is
received whole first and then handled in one worker-thread hop (``local_uploads``);
larger bodies stream through the pipeline below, which overlaps receiving, hashing and
writing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import re
import uuid
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Final, ParamSpec, TypeVar

from dockyard.descriptor import Descriptor
from dockyard.digest import CANONICAL_ALGORITHM, Digest, ResumableHasher
from dockyard.errors import (
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    SizeInvalid,
    UploadOffsetMismatch,
)
from dockyard.gc.guard import hold_blob
from dockyard.storage import local_uploads, paths
from dockyard.storage.blobs import (
    BLOB_MEDIA_TYPE,
    GlobalBlobStore,
    LinkedBlobStore,
    path_exists,
    read_link,
    write_link,
)
from dockyard.storage.driver.base import (
    BlockingFiles,
    FileInfo,
    FileWriter,
    InvalidOffset,
    PathNotFound,
    StorageDriver,
    Unsupported,
)
from dockyard.storage.protocols import UploadStatus

_P = ParamSpec("_P")
_T = TypeVar("_T")

_UPLOAD_ID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

#: Bytes gathered before one hand-off to the hashing thread and the writer: small
#: enough that writing starts soon after a chunk begins (the last batch of a chunk is
#: hashed and written after its final byte arrived), large enough for few thread hops.
BATCH_SIZE: Final = 1 << 20
#: Below this, hashing inline is cheaper than handing the buffer to a thread.
THREAD_HASH_MIN: Final = 64 << 10
#: Bodies up to this size are received whole, then written in one thread hop where the
#: driver offers blocking files: receiving them takes less than the hops saved.
WHOLE_BODY_MAX: Final = BATCH_SIZE


def validate_upload_id(upload_id: str) -> str:
    """Return ``upload_id`` if it is a session id dockyard issues, else ``BlobUploadUnknown``."""
    if not _UPLOAD_ID.fullmatch(upload_id):
        raise BlobUploadUnknown("the upload session is unknown")
    return upload_id


def format_started_at(moment: datetime) -> str:
    """A start time as the reference registry writes it (Go's ``time.RFC3339``)."""
    # Formatted by hand: ``strftime`` consults the time zone files on every call.
    m = moment.astimezone(UTC)
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}Z"


def parse_started_at(text: str) -> datetime:
    """Parse a ``startedat`` file; ``ValueError`` when it is not RFC 3339."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


class SessionLocks:
    """One lock per live upload session of a registry instance, so that concurrent
    requests on one session cannot interleave their bytes; other instances and
    processes are kept apart by the offset check."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def __call__(self, name: str, upload_id: str) -> asyncio.Lock:
        key = (name, upload_id)
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock


class StorageUploads:
    """The upload sessions of one repository (implements ``protocols.Uploads``)."""

    def __init__(
        self, name: str, blobs: LinkedBlobStore, locks: SessionLocks | None = None
    ) -> None:
        self.name = name
        self.blobs = blobs
        self._lock = locks or SessionLocks()
        self.driver: StorageDriver = blobs.driver
        self._files: BlockingFiles | None = self.driver.blocking_files()

    # -- sessions --------------------------------------------------------------------------

    async def create(self) -> UploadStatus:
        """Open a new, empty session: its start time.

        Nothing else is needed: the data file is created by the first chunk (or the
        commit), and a session without hash states stands at offset 0, as in the
        reference registry, which also resumes such a session. Where the driver offers
        blocking files the start time is not synced (``local_uploads.create``).
        """
        upload_id = str(uuid.uuid4())
        started = datetime.now(UTC).replace(microsecond=0)
        text = format_started_at(started)
        if self._files is not None:
            await asyncio.to_thread(local_uploads.create, self._files, self.name, upload_id, text)
        else:
            await self.driver.put_content(
                paths.upload_started_at(self.name, upload_id), text.encode("ascii")
            )
        return UploadStatus(self.name, upload_id, 0, started)

    async def status(self, upload_id: str) -> UploadStatus:
        """Where the session stands; ``BlobUploadUnknown`` if it does not exist."""
        validate_upload_id(upload_id)
        if self._files is not None:
            with contextlib.suppress(local_uploads.Fallback):
                started, offset = await asyncio.to_thread(
                    local_uploads.status, self._files, self.name, upload_id
                )
                return UploadStatus(self.name, upload_id, offset, started)
        started, offset, _ = await asyncio.gather(
            self._started_at(upload_id),
            self._acknowledged(upload_id),
            self._finish_cut_commit(upload_id),
        )
        return UploadStatus(self.name, upload_id, offset, started)

    async def append(
        self, upload_id: str, offset: int, chunks: AsyncIterable[bytes]
    ) -> UploadStatus:
        """Append a chunk at ``offset`` (the session's size), then acknowledge it."""
        validate_upload_id(upload_id)
        async with self._lock(self.name, upload_id):
            if self._files is not None:
                whole, replay = await _whole_body(chunks)
                chunks = chunks if replay is None else replay
                if whole is not None:
                    with contextlib.suppress(local_uploads.Fallback):
                        started, size = await _in_thread(
                            local_uploads.append, self._files, self.name, upload_id, offset, whole
                        )
                        return UploadStatus(self.name, upload_id, size, started)
            started, writer, hasher, previous = await self._write(upload_id, offset, chunks)
            await writer.close()
            if hasher.size != previous:
                await self._save_state(upload_id, hasher)
            if hasher.size != previous and previous:  # a new session has no state at 0
                with contextlib.suppress(PathNotFound):
                    await self.driver.delete(
                        paths.upload_hashstate(self.name, upload_id, CANONICAL_ALGORITHM, previous)
                    )
        return UploadStatus(self.name, upload_id, hasher.size, started)

    async def commit(
        self,
        upload_id: str,
        digest: Digest,
        size: int | None = None,
        final_chunks: AsyncIterable[bytes] | None = None,
    ) -> Descriptor:
        """Append final data, verify, move the data into the blob store and link it.

        The session is removed whether verification succeeds or not.
        """
        validate_upload_id(upload_id)
        async with self._lock(self.name, upload_id):
            if self._files is not None:
                whole, final_chunks = await _whole_body(final_chunks)
                if whole is not None:
                    with contextlib.suppress(local_uploads.Fallback):
                        total = await _in_thread(
                            local_uploads.commit,
                            self._files,
                            self.name,
                            upload_id,
                            digest,
                            size,
                            whole,
                        )
                        await hold_blob(self.driver, digest)
                        return Descriptor(media_type=BLOB_MEDIA_TYPE, digest=digest, size=total)
            _, writer, hasher, _ = await self._write(upload_id, None, final_chunks)
            return await self._publish(upload_id, writer, hasher, digest, size)

    async def upload(
        self, digest: Digest, chunks: AsyncIterable[bytes] | None = None
    ) -> Descriptor:
        """Store a whole blob sent in one request: stream, verify, publish and link it.

        No session is recorded (no start time, no hash states): nothing could resume it.
        The data streams into a fresh upload folder and is published exactly as a
        session's would be; a crash leaves only that folder, which ``purge`` removes.
        """
        upload_id = str(uuid.uuid4())
        hasher = ResumableHasher(CANONICAL_ALGORITHM)
        try:
            writer = await self.driver.writer(paths.upload_data(self.name, upload_id))
            try:
                if chunks is not None:
                    await _pump(chunks, writer, hasher)
            except BaseException:
                with contextlib.suppress(Exception):
                    await writer.cancel()
                raise
        except BaseException:
            await self._remove(upload_id)
            raise
        return await self._publish(upload_id, writer, hasher, digest, None)

    async def _publish(
        self,
        upload_id: str,
        writer: FileWriter,
        hasher: ResumableHasher,
        digest: Digest,
        size: int | None,
    ) -> Descriptor:
        """Commit the written data, verify it, move it into the blob store and link it.

        The upload folder is removed whether verification succeeds or not.
        """
        data_path = paths.upload_data(self.name, upload_id)
        blob_path = paths.blob_data(digest)
        # Whether the content is stored already does not depend on this upload.
        _, present = await asyncio.gather(writer.commit(), path_exists(self.driver, blob_path))
        try:
            total = hasher.size
            if size is not None and size != total:
                raise SizeInvalid(f"the upload holds {total} bytes, not {size}")
            if digest.algorithm == hasher.algorithm:
                actual = hasher.digest()
            else:
                actual = await _hash_stored(self.driver, data_path, digest.algorithm)
            if actual != digest:
                raise DigestInvalid(f"the uploaded content does not match {digest}")
        except (SizeInvalid, DigestInvalid, BlobUploadUnknown):
            await self._remove(upload_id)
            raise
        await write_link(self.driver, paths.upload_commit_intent(self.name, upload_id), digest)
        if not present:
            await self.driver.move(data_path, blob_path)
        await self.blobs.link(digest)
        await self._remove(upload_id)
        return Descriptor(media_type=BLOB_MEDIA_TYPE, digest=digest, size=total)

    async def cancel(self, upload_id: str) -> None:
        """Discard the session and its data; ``BlobUploadUnknown`` if it does not exist."""
        validate_upload_id(upload_id)
        try:
            await self.driver.delete(paths.upload_dir(self.name, upload_id))
        except PathNotFound:
            raise BlobUploadUnknown("the upload session is unknown") from None

    async def purge(self, older_than: timedelta) -> int:
        """Remove this repository's sessions started before ``now - older_than``."""
        cutoff = datetime.now(UTC) - older_than
        try:
            entries = await self.driver.list(paths.uploads_dir(self.name))
        except PathNotFound:
            return 0
        removed = 0
        for entry in entries:
            upload_id = entry.rsplit("/", 1)[-1]
            if not _UPLOAD_ID.fullmatch(upload_id):
                continue
            if await self._started_before(upload_id, cutoff):
                with contextlib.suppress(PathNotFound):
                    await self.driver.delete(paths.upload_dir(self.name, upload_id))
                    removed += 1
        return removed

    # -- internals -------------------------------------------------------------------------

    async def _started_at(self, upload_id: str) -> datetime:
        try:
            text = await self.driver.get_content(paths.upload_started_at(self.name, upload_id))
        except PathNotFound:
            raise BlobUploadUnknown("the upload session is unknown") from None
        try:
            return parse_started_at(text.decode("ascii", "replace"))
        except ValueError:
            # Unreadable: when the file was written is the next best answer.
            try:
                info = await self.driver.stat(paths.upload_started_at(self.name, upload_id))
            except PathNotFound:
                raise BlobUploadUnknown("the upload session is unknown") from None
            return info.mod_time

    async def _started_before(self, upload_id: str, cutoff: datetime) -> bool:
        try:
            return await self._started_at(upload_id) < cutoff
        except BlobUploadUnknown:
            # No start time: a session whose creation was cut short. Judge by its folder.
            try:
                info = await self.driver.stat(paths.upload_dir(self.name, upload_id))
            except PathNotFound:
                return False
            return info.mod_time < cutoff

    async def _acknowledged(self, upload_id: str) -> int:
        """The largest offset with a saved hash state: the last acknowledged byte."""
        try:
            entries = await self.driver.list(
                paths.upload_hashstates_dir(self.name, upload_id, CANONICAL_ALGORITHM)
            )
        except PathNotFound:
            return 0
        names = (entry.rsplit("/", 1)[-1] for entry in entries)
        return max((int(name) for name in names if name.isdigit()), default=0)

    async def _saved_state(self, upload_id: str) -> tuple[int, bytes | None]:
        """The largest acknowledged offset and its hash state (None before any)."""
        latest = await self._acknowledged(upload_id)
        try:
            state = await self.driver.get_content(
                paths.upload_hashstate(self.name, upload_id, CANONICAL_ALGORITHM, latest)
            )
        except PathNotFound:
            if latest == 0:
                return 0, None
            raise BlobUploadUnknown("the upload session is unknown") from None
        return latest, state

    async def _save_state(self, upload_id: str, hasher: ResumableHasher) -> None:
        await self.driver.put_content(
            paths.upload_hashstate(self.name, upload_id, hasher.algorithm, hasher.size),
            hasher.save(),
        )

    async def _write(
        self, upload_id: str, offset: int | None, chunks: AsyncIterable[bytes] | None
    ) -> tuple[datetime, FileWriter, ResumableHasher, int]:
        """Resume the session's writer at its acknowledged size and stream ``chunks`` in.

        Returns the session's start time, the writer still open (the caller closes or
        commits it), the hasher covering every byte written, and the size acknowledged
        before. ``offset`` None skips the offset check.
        """
        # Both reads at once; an unknown session fails on its start time.
        started, (current, state) = await asyncio.gather(
            self._started_at(upload_id), self._saved_state(upload_id)
        )
        try:
            writer = await self.driver.writer(paths.upload_data(self.name, upload_id), True)
        except PathNotFound:
            await self._finish_cut_commit(upload_id)
            writer = await self._adopt(upload_id, current)
        try:
            if writer.size > current:
                await writer.truncate(current)
            elif writer.size < current:
                raise BlobUploadInvalid("the upload lost acknowledged data")
            if offset is not None and offset != current:
                raise UploadOffsetMismatch(expected=current, got=offset)
            hasher = local_uploads.restored_hasher(state)
            if chunks is not None:
                await _pump(chunks, writer, hasher)
        except (Unsupported, InvalidOffset):
            await _close_quietly(writer)
            raise BlobUploadInvalid("the upload cannot resume after an interrupted chunk") from None
        except BaseException:
            await _close_quietly(writer)
            raise
        return started, writer, hasher, current

    async def _adopt(self, upload_id: str, acknowledged: int) -> FileWriter:
        """A writer continuing upload data that exists only as committed content.

        The reference registry's filesystem driver writes upload data in place, where a
        dockyard driver keeps it uncommitted; to resume such a session, its acknowledged
        bytes are copied once into a fresh writer.
        """
        data_path = paths.upload_data(self.name, upload_id)
        try:
            info = await self.driver.stat(data_path)
            stream = await self.driver.reader(data_path, 0, min(info.size, acknowledged))
        except PathNotFound:
            if acknowledged == 0:
                # No data yet: the session was created without any (see ``create``).
                return await self.driver.writer(data_path, append=False)
            raise BlobUploadUnknown("the upload session is unknown") from None
        except InvalidOffset:
            raise BlobUploadUnknown("the upload session is unknown") from None
        writer = await self.driver.writer(data_path, append=False)
        try:
            async for batch in _batched(stream):
                await writer.write(batch)
        except BaseException:
            await _close_quietly(writer)
            raise
        return writer

    async def _finish_cut_commit(self, upload_id: str) -> None:
        """Finish a commit that a crash cut after it began publishing the blob.

        If the blob the session's commit intent names is stored, the commit got past its
        verification: the blob is linked, the session removed, and ``BlobUploadUnknown``
        raised, as for any finished session. Otherwise the session's data is still in
        place and nothing needs doing.
        """
        try:
            digest = await read_link(self.driver, paths.upload_commit_intent(self.name, upload_id))
        except PathNotFound:
            return
        if not await path_exists(self.driver, paths.blob_data(digest)):
            return
        await self.blobs.link(digest)
        await self._remove(upload_id)
        raise BlobUploadUnknown("the upload session is unknown")

    async def _remove(self, upload_id: str) -> None:
        """Remove the session: its start time first, so that a removal cut short leaves
        an unknown session rather than one standing at offset 0."""
        with contextlib.suppress(PathNotFound):
            await self.driver.delete(paths.upload_started_at(self.name, upload_id))
        with contextlib.suppress(PathNotFound):
            await self.driver.delete(paths.upload_dir(self.name, upload_id))


async def purge_uploads(driver: StorageDriver, older_than: timedelta) -> int:
    """Remove every repository's sessions started before ``now - older_than``."""
    names: list[str] = []

    def skip(info: FileInfo) -> bool:
        leaf = info.path.rsplit("/", 1)[-1]
        if leaf == "_uploads":
            name = paths.repository_name_of(info.path)
            if name is not None:
                names.append(name)
        return leaf.startswith("_")

    with contextlib.suppress(PathNotFound):
        async for _ in driver.walk(paths.REPOSITORIES, skip):
            pass
    store = GlobalBlobStore(driver)
    removed = 0
    for name in names:
        removed += await StorageUploads(name, LinkedBlobStore(name, store)).purge(older_than)
    return removed


# --- streaming ----------------------------------------------------------------------------


async def _in_thread(function: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """``function(*args)`` in a worker thread; a cancelled caller still waits for it to
    end, so that the session's lock is not released while the thread works on it."""
    # The executor's future directly: no task, no context copy as ``to_thread`` makes.
    call = functools.partial(function, *args, **kwargs)
    future = asyncio.get_running_loop().run_in_executor(None, call)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        if not future.done():
            await asyncio.wait([future])
        raise


async def _whole_body(
    chunks: AsyncIterable[bytes] | None,
) -> tuple[list[bytes] | None, AsyncIterable[bytes] | None]:
    """Receive a body of at most ``WHOLE_BODY_MAX`` bytes whole.

    Returns its chunks and a stream to replay them (for a fallback); for a larger body,
    None and a stream of everything, received or not.
    """
    if chunks is None:
        return [], None
    received: list[bytes] = []
    size = 0
    iterator = aiter(chunks)
    async for chunk in iterator:
        if not chunk:
            continue
        received.append(chunk)
        size += len(chunk)
        if size > WHOLE_BODY_MAX:
            return None, _chained(received, iterator)
    return received, _replayed(received)


async def _replayed(received: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in received:
        yield chunk


async def _chained(received: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in received:
        yield chunk
    async for chunk in rest:
        yield chunk


async def _batched(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """Regroup arbitrary chunks into buffers of about ``BATCH_SIZE`` bytes."""
    # A list joined once copies each byte once; a growing bytearray copies far more.
    pending: list[bytes] = []
    size = 0
    async for chunk in chunks:
        if not chunk:
            continue
        if not pending and len(chunk) >= BATCH_SIZE:
            yield bytes(chunk)
            continue
        pending.append(chunk)
        size += len(chunk)
        if size >= BATCH_SIZE:
            yield b"".join(pending)
            pending.clear()
            size = 0
    if pending:
        yield b"".join(pending)


async def _gathered(chunks: AsyncIterable[bytes]) -> AsyncIterator[list[bytes]]:
    """Group arbitrary chunks into lists of about ``BATCH_SIZE`` bytes, without copying."""
    pending: list[bytes] = []
    size = 0
    async for chunk in chunks:
        if not chunk:
            continue
        pending.append(chunk)
        size += len(chunk)
        if size >= BATCH_SIZE:
            yield pending
            pending = []
            size = 0
    if pending:
        yield pending


def _hash_all(hasher: ResumableHasher, batch: list[bytes]) -> None:
    for chunk in batch:
        hasher.update(chunk)


async def _write_each(writer: FileWriter, batch: list[bytes]) -> None:
    for chunk in batch:
        await writer.write(chunk)


async def _pump(chunks: AsyncIterable[bytes], writer: FileWriter, hasher: ResumableHasher) -> None:
    """Write and hash batches in a pipeline.

    While batch N is hashed in a worker thread and written by the writer (in another),
    batch N+1 is received from ``chunks``; each step waits only for its own predecessor.
    Chunks travel as the objects the server delivered: nothing joins or copies them.
    """
    hashing: asyncio.Future[None] | None = None
    writing: asyncio.Future[None] | None = None
    try:
        async for batch in _gathered(chunks):
            if hashing is not None:
                await hashing
                hashing = None
            if writing is not None:
                await writing
                writing = None
            if sum(len(chunk) for chunk in batch) >= THREAD_HASH_MIN:
                hashing = asyncio.ensure_future(asyncio.to_thread(_hash_all, hasher, batch))
            else:
                _hash_all(hasher, batch)
            writing = asyncio.ensure_future(_write_each(writer, batch))
        if hashing is not None:
            await hashing
            hashing = None
        if writing is not None:
            await writing
            writing = None
    finally:
        # In-flight work cannot be recalled: let it land before the caller moves on, so
        # the hasher and the writer are never touched behind its back.
        for pending in (hashing, writing):
            if pending is not None:
                with contextlib.suppress(BaseException):
                    await asyncio.shield(pending)


async def _hash_stored(driver: StorageDriver, path: str, algorithm: str) -> Digest:
    """Digest committed content by streaming it once through ``hashlib`` off the loop."""
    hasher = hashlib.new(algorithm)
    try:
        stream = await driver.reader(path)
    except PathNotFound:
        raise BlobUploadUnknown("the upload session is unknown") from None
    async for batch in _batched(stream):
        if len(batch) >= THREAD_HASH_MIN:
            await asyncio.to_thread(hasher.update, batch)
        else:
            hasher.update(batch)
    return Digest(algorithm, hasher.hexdigest())


async def _close_quietly(writer: FileWriter) -> None:
    with contextlib.suppress(Exception):
        await writer.close()
