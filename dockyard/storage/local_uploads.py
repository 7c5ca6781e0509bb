"""Upload session steps in one worker-thread hop, on drivers that offer blocking files.

A chunk of an upload reads the session's start time, lists its hash states, reads the
latest, opens the data, appends, syncs, saves the new state and forgets the old one.
Through the async driver interface each of those is a thread hand-off, which on a local
disk costs more than the step itself. Drivers over local storage offer blocking files
(``StorageDriver.blocking_files``), so the whole step runs back to back in one worker
thread. The layout and the order of writes are those of the async path in ``uploads``:
a chunk's data is synced before its hash state (the acknowledgement) is saved, and a
commit syncs the data and its new folder before the link to it is written. Two steps
are cheaper: the start time is not synced (``create``), and a commit renames the data
straight to the blob's path rather than publishing it in the session first. A session
that needs what only the async path does (adopting data the reference registry wrote in
place, an unreadable start time, a sha512 digest) raises ``Fallback`` before anything was
written, and the caller takes the async path.

Every function here blocks: call it in a worker thread.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime

from dockyard.digest import CANONICAL_ALGORITHM, Digest, ResumableHasher
from dockyard.errors import (
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    SizeInvalid,
    UploadOffsetMismatch,
)
from dockyard.storage import paths
from dockyard.storage.driver.base import (
    BlockingFiles,
    BlockingWriter,
    InvalidOffset,
    PathNotFound,
    Unsupported,
)


class Fallback(Exception):
    """This session needs the async path; nothing was written."""


def create(files: BlockingFiles, name: str, upload_id: str, started: str) -> None:
    """Open a session: its start time, not synced to disk.

    A session lost to a crash of the machine before any chunk was acknowledged is cleanly
    unknown afterwards (or, with an empty start time, judged by the file's time); the
    first acknowledged chunk syncs its own data and state.
    """
    files.put(paths.upload_started_at(name, upload_id), started.encode("ascii"), "none")


def started_at(files: BlockingFiles, name: str, upload_id: str) -> datetime:
    """The session's start time; ``BlobUploadUnknown`` if there is no session."""
    # Imported here: uploads imports this module.
    from dockyard.storage.uploads import parse_started_at

    text = files.read(paths.upload_started_at(name, upload_id))
    if text is None:
        raise BlobUploadUnknown("the upload session is unknown")
    try:
        return parse_started_at(text.decode("ascii", "replace"))
    except ValueError:
        raise Fallback() from None  # judged by the file's time, which the async path reads


def acknowledged(files: BlockingFiles, name: str, upload_id: str) -> int:
    """The largest offset with a saved hash state: the last acknowledged byte."""
    names = files.names(paths.upload_hashstates_dir(name, upload_id, CANONICAL_ALGORITHM))
    return max((int(entry) for entry in names or () if entry.isdigit()), default=0)


def status(files: BlockingFiles, name: str, upload_id: str) -> tuple[datetime, int]:
    """The session's start time and acknowledged size."""
    started = started_at(files, name, upload_id)
    if files.size(paths.upload_commit_intent(name, upload_id)) is not None:
        raise Fallback()  # a commit was cut: ``uploads`` finishes it
    return started, acknowledged(files, name, upload_id)


def append(
    files: BlockingFiles, name: str, upload_id: str, offset: int | None, chunks: Sequence[bytes]
) -> tuple[datetime, int]:
    """Append ``chunks`` at ``offset`` (None: wherever the session stands), make them
    durable, then acknowledge them; returns the start time and the new size."""
    started, writer, hasher, previous = _resume(files, name, upload_id, offset)
    assert started is not None
    try:
        _write(writer, hasher, chunks)
    except BaseException:
        _close_quietly(writer)
        raise
    writer.close()
    if hasher.size != previous:
        # The state's own bytes are synced (a crash must not leave a state that restores
        # to another hash), its name is not: should the rename be lost with the machine,
        # the session stands at the previous state, whose data is synced too, and resumes
        # from there. A process crash loses nothing that was acknowledged.
        files.put(
            paths.upload_hashstate(name, upload_id, hasher.algorithm, hasher.size),
            hasher.save(),
            "content",
        )
        if previous:  # a new session has no state at 0
            files.delete(paths.upload_hashstate(name, upload_id, CANONICAL_ALGORITHM, previous))
    return started, hasher.size


def commit(
    files: BlockingFiles,
    name: str,
    upload_id: str,
    digest: Digest,
    size: int | None,
    chunks: Sequence[bytes],
) -> int:
    """Append final ``chunks``, verify, publish the data as blob ``digest`` and link it.

    The data goes straight from the session to the blob store: synced, then renamed to
    the blob's path, whose folder is synced before the link is written. The session is
    removed whether verification succeeds or not. Returns the blob's size.
    """
    if digest.algorithm != CANONICAL_ALGORITHM:
        raise Fallback()  # only the sha256 state is kept; others re-read the data
    _, writer, hasher, acknowledged_size = _resume(files, name, upload_id, None, need_start=False)
    try:
        _write(writer, hasher, chunks)
        total = hasher.size
        if size is not None and size != total:
            raise SizeInvalid(f"the upload holds {total} bytes, not {size}")
        if hasher.digest() != digest:
            raise DigestInvalid(f"the uploaded content does not match {digest}")
    except (SizeInvalid, DigestInvalid):
        _cancel_quietly(writer)
        files.delete(paths.upload_dir(name, upload_id))
        raise
    except BaseException:
        _close_quietly(writer)
        raise
    # Named before the data leaves the session, so a crash from here on can be finished.
    files.put(paths.upload_commit_intent(name, upload_id), str(digest).encode("ascii"), "content")
    blob = paths.blob_data(digest)
    if files.size(blob) is None:
        writer.commit(blob)
    else:
        writer.cancel()  # stored already: identical bytes, as the digest says
    files.put(paths.layer_link(name, digest), str(digest).encode("ascii"))
    _remove_session(files, name, upload_id, acknowledged_size)
    return total


def _remove_session(files: BlockingFiles, name: str, upload_id: str, state_at: int) -> None:
    """Remove a session whose data is gone: its known files one by one, each delete
    removing the folders it empties (far fewer steps than a recursive delete), then the
    folder itself only if something unexpected is left in it. The start time goes first,
    so that a removal cut short leaves an unknown session, not one at offset 0."""
    files.delete(paths.upload_started_at(name, upload_id))
    if state_at:
        files.delete(paths.upload_hashstate(name, upload_id, CANONICAL_ALGORITHM, state_at))
    files.delete(paths.upload_commit_intent(name, upload_id))
    folder = paths.upload_dir(name, upload_id)
    if files.names(folder) is not None:
        files.delete(folder)


def _resume(
    files: BlockingFiles, name: str, upload_id: str, offset: int | None, need_start: bool = True
) -> tuple[datetime | None, BlockingWriter, ResumableHasher, int]:
    """The session's start time (unless not ``need_start``), its writer at the acknowledged
    size, the hasher restored to that size, and the size; checks ``offset`` unless None."""
    started: datetime | None = None
    if need_start:
        started = started_at(files, name, upload_id)
    elif files.size(paths.upload_started_at(name, upload_id)) is None:
        raise BlobUploadUnknown("the upload session is unknown")
    current = acknowledged(files, name, upload_id)
    data = paths.upload_data(name, upload_id)
    state: bytes | None = None
    if current == 0:
        # Nothing acknowledged: whatever data there is (none yet, or a cut-off first
        # chunk) is dropped, which is what starting afresh does in one step.
        writer = files.writer(data, append=False)
    else:
        state = files.read(paths.upload_hashstate(name, upload_id, CANONICAL_ALGORITHM, current))
        if state is None:
            raise BlobUploadUnknown("the upload session is unknown")
        try:
            writer = files.writer(data, append=True)
        except PathNotFound:
            if files.size(data) is not None:
                raise Fallback() from None  # committed data to adopt (see ``_adopt``)
            if files.size(paths.upload_commit_intent(name, upload_id)) is not None:
                raise Fallback() from None  # a commit was cut: ``uploads`` finishes it
            raise BlobUploadUnknown("the upload session is unknown") from None
    try:
        if writer.size > current:
            writer.truncate(current)
        elif writer.size < current:
            raise BlobUploadInvalid("the upload lost acknowledged data")
        if offset is not None and offset != current:
            raise UploadOffsetMismatch(expected=current, got=offset)
        hasher = restored_hasher(state)
    except (Unsupported, InvalidOffset):
        _close_quietly(writer)
        raise BlobUploadInvalid("the upload cannot resume after an interrupted chunk") from None
    except BaseException:
        _close_quietly(writer)
        raise
    return started, writer, hasher, current


def restored_hasher(state: bytes | None) -> ResumableHasher:
    """The session's hasher: fresh without a saved ``state``, else restored from it."""
    if state is None:
        return ResumableHasher(CANONICAL_ALGORITHM)
    try:
        return ResumableHasher.restore(CANONICAL_ALGORITHM, state)
    except DigestInvalid:
        raise BlobUploadInvalid("the upload's hash state is damaged") from None


def _write(writer: BlockingWriter, hasher: ResumableHasher, chunks: Sequence[bytes]) -> None:
    for chunk in chunks:
        hasher.update(chunk)
        writer.write(chunk)


def _close_quietly(writer: BlockingWriter) -> None:
    with contextlib.suppress(Exception):
        writer.close()


def _cancel_quietly(writer: BlockingWriter) -> None:
    with contextlib.suppress(Exception):
        writer.cancel()
