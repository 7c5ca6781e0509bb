"""Resumable blob upload sessions, in the reference registry's ``_uploads`` layout.

A session is a folder ``_uploads/<id>/`` holding ``startedat`` (RFC 3339, UTC), the
uncommitted ``data`` (from the first chunk on) and ``hashstates/sha256/<offset>``: the
sha256 state after the first ``offset`` bytes, in Go's marshaled form. A hash state file
is the acknowledgement of a chunk: it is written only after the chunk's bytes are
durable, so the largest saved offset is the last byte the registry promised to keep.
Bytes past it (a chunk cut off mid-way) are cut when the session resumes. Nothing lives
in process memory, so any process sharing the storage, including the reference
registry, can resume a session.

A commit names the digest it publishes (an empty ``committing-<alg>-<hex>``) before the
data leaves the session; a request that finds that blob stored after a crash links it
and removes the session. Sessions are removed start time first, so a removal cut short
leaves an unknown session, never one standing at offset 0.

Every step is written once, as a plan (``driver.plan``) the driver carries out. A
request whose body is small is received whole and handled in one plan; a larger body
streams through ``_pump``, which receives the next batch while the driver writes and
hashes the last.

sha512 commits: only the sha256 state is kept while bytes stream in (nearly every client
uses sha256). A commit that asks for a sha512 digest publishes the data in the session
and hashes it once more from storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import uuid
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

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
from dockyard.gc.journal import collections
from dockyard.storage import paths
from dockyard.storage.blobs import BLOB_MEDIA_TYPE, GlobalBlobStore, LinkedBlobStore, read_link
from dockyard.storage.blobs import write_link as link_step
from dockyard.storage.driver.base import (
    FileInfo,
    InvalidOffset,
    PathNotFound,
    StorageDriver,
    Unsupported,
)
from dockyard.storage.driver.plan import (
    Adopt,
    Cancel,
    Close,
    Commit,
    Delete,
    DeleteFiles,
    Each,
    Hash,
    HashStored,
    Listing,
    ModTime,
    Move,
    OpenWriter,
    Plan,
    Put,
    Read,
    Size,
    Truncate,
    Write,
    Writer,
)
from dockyard.storage.protocols import UploadStatus

_UPLOAD_ID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

#: Bytes gathered before one hand-off to the driver: small enough that writing starts
#: soon after a chunk begins, large enough for few hand-offs.
BATCH_SIZE: Final = 1 << 20
#: Bodies up to this size are received whole, then handled in one plan: receiving them
#: takes less than the hand-offs saved.
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


def restored_hasher(state: bytes | None) -> ResumableHasher:
    """The session's hasher: fresh without a saved ``state``, else restored from it."""
    if state is None:
        return ResumableHasher(CANONICAL_ALGORITHM)
    try:
        return ResumableHasher.restore(CANONICAL_ALGORITHM, state)
    except DigestInvalid:
        raise BlobUploadInvalid("the upload's hash state is damaged") from None


class SessionLocks:
    """One lock per live upload session of a registry instance, so that concurrent
    requests on one session cannot interleave their bytes; other instances and
    processes are kept apart by the offset check.

    Held weakly: a lock lives only while a request holds or awaits it, so the table's
    memory is bounded by the requests in flight (a few hundred bytes each), whatever
    the number of sessions.
    """

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def __len__(self) -> int:
        return len(self._locks)

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
        self.driver: StorageDriver = blobs.driver
        self._lock = locks or SessionLocks()

    # -- sessions --------------------------------------------------------------------------

    async def create(self) -> UploadStatus:
        """Open a new, empty session: its start time.

        Nothing else is needed: the data is created by the first chunk (or the commit),
        and a session without hash states stands at offset 0, as in the reference
        registry, which also resumes such a session.
        """
        upload_id = str(uuid.uuid4())
        started = datetime.now(UTC).replace(microsecond=0)
        text = format_started_at(started).encode("ascii")
        await self.driver.run(lambda: _create(self.name, upload_id, text))
        return UploadStatus(self.name, upload_id, 0, started)

    async def status(self, upload_id: str) -> UploadStatus:
        """Where the session stands; ``BlobUploadUnknown`` if it does not exist (or its
        commit, cut by a crash, is finished now)."""
        validate_upload_id(upload_id)
        name = self.name
        started, offset = await self.driver.run(lambda: _status(name, upload_id))
        return UploadStatus(name, upload_id, offset, started)

    async def append(
        self, upload_id: str, offset: int, chunks: AsyncIterable[bytes]
    ) -> UploadStatus:
        """Append a chunk at ``offset`` (the session's size), then acknowledge it."""
        validate_upload_id(upload_id)
        name = self.name
        async with self._lock(name, upload_id):
            first, rest = await _first_batch(chunks)
            if rest is None:
                started, size = await self.driver.run(
                    lambda: _append_whole(name, upload_id, offset, first)
                )
            else:
                resumed = await self.driver.run(lambda: _resume(name, upload_id, offset))
                await self._pump(resumed.writer, resumed.hasher, _chained(first, rest))
                started, size = (
                    resumed.started,
                    await self.driver.run(lambda: _acknowledge(name, upload_id, resumed)),
                )
        return UploadStatus(name, upload_id, size, started)

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
        name = self.name
        async with self._lock(name, upload_id):
            first, rest = await _first_batch(final_chunks)
            # Looked at before the commit checks the blob store: spares the collector's
            # guard a second check of the blob when no collection ran or finished meanwhile.
            before = await collections(self.driver)
            if rest is None:
                total = await self.driver.run(
                    lambda: _commit_whole(name, upload_id, digest, size, first)
                )
            else:
                resumed = await self.driver.run(lambda: _resume(name, upload_id, None))
                await self._pump(resumed.writer, resumed.hasher, _chained(first, rest))
                total = await self.driver.run(
                    lambda: _publish(
                        name,
                        upload_id,
                        resumed.writer,
                        resumed.hasher,
                        digest,
                        size,
                        resumed.states,
                    )
                )
        await hold_blob(self.driver, digest, since=before)
        return Descriptor(media_type=BLOB_MEDIA_TYPE, digest=digest, size=total)

    async def upload(
        self, digest: Digest, chunks: AsyncIterable[bytes] | None = None
    ) -> Descriptor:
        """Store a whole blob sent in one request: stream, verify, publish and link it.

        No session is recorded (no start time, no hash states): nothing could resume it.
        The data streams into a fresh upload folder and is published exactly as a
        session's would be; a crash leaves only that folder, which ``purge`` removes.
        """
        upload_id = str(uuid.uuid4())
        name = self.name
        first, rest = await _first_batch(chunks)
        if rest is None:
            total = await self.driver.run(lambda: _upload_whole(name, upload_id, digest, first))
        else:
            writer = await self.driver.run(lambda: _open_fresh(name, upload_id))
            hasher = ResumableHasher(CANONICAL_ALGORITHM)
            try:
                await self._pump(writer, hasher, _chained(first, rest))
            except BaseException:
                with contextlib.suppress(Exception):
                    await self.driver.run(lambda: _discard(name, upload_id, writer))
                raise
            total = await self.driver.run(
                lambda: _publish(name, upload_id, writer, hasher, digest, None, None)
            )
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
        name = self.name
        for entry in entries:
            upload_id = entry.rsplit("/", 1)[-1]
            if not _UPLOAD_ID.fullmatch(upload_id):
                continue
            started = await self.driver.run(functools.partial(_started_or_made, name, upload_id))
            if started is not None and started < cutoff:
                with contextlib.suppress(PathNotFound):
                    await self.driver.delete(paths.upload_dir(name, upload_id))
                    removed += 1
        return removed

    # -- streaming -------------------------------------------------------------------------

    async def _pump(
        self, writer: Writer, hasher: ResumableHasher, chunks: AsyncIterable[bytes]
    ) -> None:
        """Hash and write ``chunks`` batch by batch, receiving the next batch while the
        driver works on the last; on failure the writer is released with its bytes
        unacknowledged (not kept: a resume cuts them off) and the error raised."""
        # Hashing and writing each wait only for their own previous batch.
        hashing: asyncio.Future[None] | None = None
        writing: asyncio.Future[None] | None = None
        try:
            async for batch in _gathered(chunks):
                for working in (hashing, writing):
                    if working is not None:
                        await working
                hashing = asyncio.ensure_future(
                    self.driver.run(functools.partial(_hash, hasher, batch))
                )
                writing = asyncio.ensure_future(
                    self.driver.run(functools.partial(_write, writer, batch))
                )
            for working in (hashing, writing):
                if working is not None:
                    await working
        except BaseException:
            # Work in flight cannot be recalled: let it land before the writer is closed.
            for working in (hashing, writing):
                if working is not None:
                    with contextlib.suppress(BaseException):
                        await asyncio.shield(working)
            with contextlib.suppress(Exception):
                await self.driver.run(lambda: _close_quietly(writer, keep=False))
            raise


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


#: Upload folders listed per ``list_names`` call (a worker-thread hop on local storage).
_LISTING_BATCH: Final = 1000


async def upload_sessions(
    driver: StorageDriver, uploads: Callable[[str], StorageUploads], names: Sequence[str]
) -> list[UploadStatus]:
    """The open sessions of repositories ``names`` (batched listings of their upload
    folders, then each session's state), oldest first."""
    listings: list[list[str] | None] = []
    for first in range(0, len(names), _LISTING_BATCH):
        batch = names[first : first + _LISTING_BATCH]
        listings += await driver.list_names([paths.uploads_dir(name) for name in batch])

    async def one(name: str, upload_id: str) -> UploadStatus | None:
        try:
            return await uploads(name).status(upload_id)
        except BlobUploadUnknown:
            return None  # finished or cancelled meanwhile

    found = await asyncio.gather(
        *(
            one(name, upload_id)
            for name, ids in zip(names, listings, strict=True)
            for upload_id in ids or ()
            if _UPLOAD_ID.fullmatch(upload_id)
        )
    )
    return sorted((s for s in found if s is not None), key=lambda s: (s.started_at, s.id))


# --- plans ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Resumed:
    """A session ready for more bytes: its writer at the acknowledged size, the hasher
    restored to that size, when it started, and the offsets of its saved hash states
    (the largest is ``acknowledged``; more after a crash cut an acknowledgement short)."""

    started: datetime
    acknowledged: int
    writer: Writer
    hasher: ResumableHasher
    states: tuple[int, ...] = ()


def _unknown() -> BlobUploadUnknown:
    return BlobUploadUnknown("the upload session is unknown")


def _create(name: str, upload_id: str, started: bytes) -> Plan[None]:
    # Not synced: a session lost to a crash of the machine before any chunk was
    # acknowledged is cleanly unknown afterwards (or, with an empty start time, judged by
    # the file's time); the first acknowledged chunk syncs its own data and state.
    yield Put(paths.upload_started_at(name, upload_id), started, "none")


def _started(name: str, upload_id: str) -> Plan[datetime | None]:
    """Plan: the session's start time (the file's time if unreadable); None if none."""
    path = paths.upload_started_at(name, upload_id)
    text = yield Read(path)
    if text is None:
        return None
    try:
        return parse_started_at(text.decode("ascii", "replace"))
    except ValueError:
        moment: datetime | None = yield ModTime(path)
        return moment


def _started_or_made(name: str, upload_id: str) -> Plan[datetime | None]:
    """Plan: the start time, else (a creation cut short) when the folder was made."""
    started = yield from _started(name, upload_id)
    if started is None:
        started = yield ModTime(paths.upload_dir(name, upload_id))
    return started


def _acknowledged(name: str, upload_id: str) -> Plan[int]:
    """Plan: the largest offset with a saved hash state: the last acknowledged byte."""
    return max((yield from _saved_states(name, upload_id)), default=0)


def _saved_states(name: str, upload_id: str) -> Plan[tuple[int, ...]]:
    """Plan: the offsets of the session's saved hash states, in order."""
    (names,) = yield Listing([paths.upload_hashstates_dir(name, upload_id, CANONICAL_ALGORITHM)])
    return tuple(sorted(int(entry) for entry in names or () if entry.isdigit()))


def _status(name: str, upload_id: str) -> Plan[tuple[datetime, int]]:
    started = yield from _started(name, upload_id)
    if started is None:
        raise _unknown()
    yield from _finish_cut_commit(name, upload_id)
    return started, (yield from _acknowledged(name, upload_id))


#: The commit intent as earlier builds wrote it: a file holding the digest.
_EARLIER_INTENT: Final = "committing"


def _finish_cut_commit(name: str, upload_id: str) -> Plan[None]:
    """Plan: finish a commit that a crash cut after it began publishing the blob.

    If the blob the session's commit intent names is stored, the commit got past its
    verification: the blob is linked, the session removed, and ``BlobUploadUnknown``
    raised, as for any finished session. Otherwise nothing needs doing.
    """
    (entries,) = yield Listing([paths.upload_dir(name, upload_id)])
    intents = (paths.commit_intent_digest(entry) for entry in entries or ())
    digest = next((d for d in intents if d is not None), None)
    if digest is None and _EARLIER_INTENT in (entries or ()):
        # Written by an earlier build: the digest is the file's content.
        digest = yield from read_link(f"{paths.upload_dir(name, upload_id)}/{_EARLIER_INTENT}")
    if digest is None or (yield Size(paths.blob_data(digest))) is None:
        return
    yield link_step(paths.layer_link(name, digest), digest)
    yield from _remove(name, upload_id)
    raise _unknown()


def _resume(name: str, upload_id: str, offset: int | None) -> Plan[_Resumed]:
    """Plan: the session's writer at its acknowledged size and its hasher restored there;
    checks ``offset`` unless None."""
    # Read at once: one round trip to an object store instead of two.
    started, states = yield Each(
        (
            functools.partial(_started, name, upload_id),
            functools.partial(_saved_states, name, upload_id),
        )
    )
    if started is None:
        raise _unknown()
    current = max(states, default=0)
    data = paths.upload_data(name, upload_id)
    state: bytes | None = None
    if current == 0:
        # Nothing acknowledged: whatever data there is (none yet, or a cut-off first
        # chunk) is dropped, which is what starting afresh does in one step.
        writer = yield OpenWriter(data)
    else:
        state = yield Read(paths.upload_hashstate(name, upload_id, CANONICAL_ALGORITHM, current))
        if state is None:
            raise _unknown()
        writer = yield OpenWriter(data, append=True)
        if writer is None:
            yield from _finish_cut_commit(name, upload_id)
            # Data the reference registry's driver wrote in place, as committed content.
            writer = yield Adopt(data, current)
            if writer is None:
                raise _unknown()
    try:
        if writer.size > current:
            yield Truncate(writer, current)
        elif writer.size < current:
            raise BlobUploadInvalid("the upload lost acknowledged data")
        if offset is not None and offset != current:
            raise UploadOffsetMismatch(expected=current, got=offset)
        hasher = restored_hasher(state)
    except (Unsupported, InvalidOffset):
        yield from _close_quietly(writer)
        raise BlobUploadInvalid("the upload cannot resume after an interrupted chunk") from None
    except Exception:
        yield from _close_quietly(writer)
        raise
    return _Resumed(started, current, writer, hasher, states)


def _absorb(writer: Writer, hasher: ResumableHasher, chunks: Sequence[bytes]) -> Plan[None]:
    yield from _hash(hasher, chunks)
    yield from _write(writer, chunks)


def _hash(hasher: ResumableHasher, chunks: Sequence[bytes]) -> Plan[None]:
    yield Hash(hasher, chunks)


def _write(writer: Writer, chunks: Sequence[bytes]) -> Plan[None]:
    yield Write(writer, chunks)


def _acknowledge(name: str, upload_id: str, resumed: _Resumed) -> Plan[int]:
    """Plan: make the written bytes durable, then save the hash state that acknowledges
    them and forget the earlier ones. Returns the new size."""
    hasher, previous = resumed.hasher, resumed.acknowledged
    yield Close(resumed.writer)
    if hasher.size != previous:
        # The state's own bytes are synced (a crash must not leave a state that restores
        # to another hash), its name need not be: should the rename be lost with the
        # machine, the session stands at the previous state, whose data is synced too.
        yield Put(
            paths.upload_hashstate(name, upload_id, hasher.algorithm, hasher.size),
            hasher.save(),
            "content",
        )
        if resumed.states:  # a new session has none
            # Their folder holds the state just saved.
            yield DeleteFiles(
                [_state_path(name, upload_id, offset) for offset in resumed.states], prune=False
            )
    return hasher.size


def _state_path(name: str, upload_id: str, offset: int) -> str:
    return paths.upload_hashstate(name, upload_id, CANONICAL_ALGORITHM, offset)


def _append_whole(
    name: str, upload_id: str, offset: int, chunks: Sequence[bytes]
) -> Plan[tuple[datetime, int]]:
    resumed = yield from _resume(name, upload_id, offset)
    yield from _absorb_or_close(resumed.writer, resumed.hasher, chunks)
    return resumed.started, (yield from _acknowledge(name, upload_id, resumed))


def _commit_whole(
    name: str, upload_id: str, digest: Digest, size: int | None, chunks: Sequence[bytes]
) -> Plan[int]:
    resumed = yield from _resume(name, upload_id, None)
    yield from _absorb_or_close(resumed.writer, resumed.hasher, chunks)
    return (
        yield from _publish(
            name, upload_id, resumed.writer, resumed.hasher, digest, size, resumed.states
        )
    )


def _open_fresh(name: str, upload_id: str) -> Plan[Writer]:
    writer: Writer = yield OpenWriter(paths.upload_data(name, upload_id))
    return writer


def _upload_whole(name: str, upload_id: str, digest: Digest, chunks: Sequence[bytes]) -> Plan[int]:
    writer = yield from _open_fresh(name, upload_id)
    hasher = ResumableHasher(CANONICAL_ALGORITHM)
    try:
        yield from _absorb(writer, hasher, chunks)
    except Exception:
        yield from _discard(name, upload_id, writer)
        raise
    return (yield from _publish(name, upload_id, writer, hasher, digest, None, None))


def _absorb_or_close(
    writer: Writer, hasher: ResumableHasher, chunks: Sequence[bytes]
) -> Plan[None]:
    try:
        yield from _absorb(writer, hasher, chunks)
    except Exception:
        yield from _close_quietly(writer, keep=False)
        raise


def _publish(
    name: str,
    upload_id: str,
    writer: Writer,
    hasher: ResumableHasher,
    digest: Digest,
    size: int | None,
    states: Sequence[int] | None,
) -> Plan[int]:
    """Plan: verify what ``writer`` holds, publish it as blob ``digest`` and link it.

    ``states`` are the offsets of a session's saved hash states (None: an upload without
    a session). The data is durable before it is published, and published before the
    link; a session's commit intent is saved before the data leaves it. The upload folder
    is removed whether verification succeeds or not. Returns the blob's size.
    """
    data = paths.upload_data(name, upload_id)
    session = states is not None
    known = [data, *(_state_path(name, upload_id, offset) for offset in states or ())]
    total = hasher.size
    published = False
    try:
        if size is not None and size != total:
            raise SizeInvalid(f"the upload holds {total} bytes, not {size}")
        if digest.algorithm != hasher.algorithm:
            yield Commit(writer, data)
            published = True
            actual = Digest(digest.algorithm, (yield HashStored(data, digest.algorithm)))
        else:
            actual = hasher.digest()
        if actual != digest:
            raise DigestInvalid(f"the uploaded content does not match {digest}")
    except (SizeInvalid, DigestInvalid):
        yield from _discard(
            name, upload_id, None if published else writer, known if session else None
        )
        raise
    if session:
        # Named before the data leaves the session, so a crash from here on can be finished.
        # Only its name must last, and names reach the disk in order: the sync that makes
        # the data's move durable makes this name durable first.
        intent = paths.upload_commit_intent(name, upload_id, digest)
        known.insert(0, intent)
    blob = paths.blob_data(digest)
    if session:
        # The intent first where steps run in turn; the read does not wait for it.
        _, size_found = yield Each(
            (functools.partial(_put_intent, intent), functools.partial(_size, blob))
        )
    else:
        size_found = yield Size(blob)
    present = size_found is not None
    if not published:
        yield Cancel(writer) if present else Commit(writer, data, blob)
    elif not present:
        yield Move(data, blob)
    yield link_step(paths.layer_link(name, digest), digest)
    if session:
        yield from _remove(name, upload_id, known)
    elif published and present:
        yield DeleteFiles([data])
    # Else the folder of an upload without a session held only the data, which is gone.
    return total


def _put_intent(path: str) -> Plan[None]:
    yield Put(path, b"", "none")


def _size(path: str) -> Plan[int | None]:
    size: int | None = yield Size(path)
    return size


def _remove(name: str, upload_id: str, known: Sequence[str] | None = None) -> Plan[None]:
    """Plan: remove the session, its start time first (see the module docstring).

    ``known`` names every file the session holds besides its start time, deepest last
    (what the plan wrote and listed, so no listing is needed to find them): they are
    deleted as one batch, and the folders left empty go with them. Without it, the folder
    is deleted with whatever it holds.
    """
    # Not pruned: the step after removes the folder.
    yield DeleteFiles([paths.upload_started_at(name, upload_id)], prune=False)
    if known is None:
        yield Delete(paths.upload_dir(name, upload_id))
    else:
        yield DeleteFiles(known)


def _discard(
    name: str, upload_id: str, writer: Writer | None, known: Sequence[str] | None = None
) -> Plan[None]:
    if writer is not None:
        # Removing the session below discards the data as well.
        with contextlib.suppress(Exception):
            yield Cancel(writer)
    yield from _remove(name, upload_id, known)


def _close_quietly(writer: Writer, *, keep: bool = True) -> Plan[None]:
    # The failure that got us here is what gets reported.
    with contextlib.suppress(Exception):
        yield Close(writer, keep)


# --- receiving --------------------------------------------------------------------------


async def _first_batch(
    chunks: AsyncIterable[bytes] | None,
) -> tuple[list[bytes], AsyncIterator[bytes] | None]:
    """The body's first ``WHOLE_BODY_MAX`` bytes or so, and the rest of it (None if the
    body ended within them)."""
    if chunks is None:
        return [], None
    received: list[bytes] = []
    size = 0
    iterator = aiter(chunks)
    async for chunk in iterator:
        if not chunk:
            continue
        received.append(chunk if type(chunk) is bytes else bytes(chunk))
        size += len(chunk)
        if size > WHOLE_BODY_MAX:
            return received, iterator
    return received, None


async def _chained(first: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in first:
        yield chunk
    async for chunk in rest:
        yield chunk


async def _gathered(chunks: AsyncIterable[bytes]) -> AsyncIterator[list[bytes]]:
    """Group arbitrary chunks into lists of about ``BATCH_SIZE`` bytes, without copying
    the caller's immutable bytes (a reused buffer is copied once)."""
    pending: list[bytes] = []
    size = 0
    async for chunk in chunks:
        if not chunk:
            continue
        pending.append(chunk if type(chunk) is bytes else bytes(chunk))
        size += len(chunk)
        if size >= BATCH_SIZE:
            yield pending
            pending = []
            size = 0
    if pending:
        yield pending
