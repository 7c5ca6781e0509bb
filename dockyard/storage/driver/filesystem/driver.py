"""A storage driver that keeps content in files below a local root directory.

Storage path ``/a/b/c`` lives at ``<root>/a/b/c``, so the reference registry's filesystem
driver can serve a root that dockyard wrote and the other way round.

Files whose names are not valid path components are the driver's own bookkeeping and
are never reported by ``list``, ``stat`` or ``walk``; ``#`` cannot occur in a storage
path, so these names never collide with content:

- ``<name>#partial``: the uncommitted content of a writer for ``<name>``. It sits next
  to the path it will become, so ``commit`` is a rename within one directory, and any
  process sharing the root can append to it.
- ``<name>#<random>.tmp``: a ``put_content`` or cross-device ``move`` in flight. A crash
  leaves at most one of these behind, never a partial file at ``<name>``.

A directory that holds only bookkeeping files does not exist as far as callers can see.
All blocking I/O runs in worker threads.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import errno
import functools
import hashlib
import os
import random
import re
import shutil
import stat as statmod
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Sequence
from datetime import UTC, datetime
from types import FunctionType
from typing import Any, Concatenate, Final, ParamSpec, TypeVar

from dockyard.storage.driver.base import (
    FileInfo,
    FileWriter,
    InvalidOffset,
    OpenFile,
    PathNotFound,
    StorageDriver,
    validate_path,
)
from dockyard.storage.driver.filesystem.folder_listings import FolderListings
from dockyard.storage.driver.filesystem.read_memo import ReadMemo, Recording, Unremembered
from dockyard.storage.driver.filesystem.writeback import start_writeback
from dockyard.storage.driver.plan import (
    Adopt,
    Close,
    Commit,
    Delete,
    DeleteFiles,
    Durability,
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
    Step,
    Truncate,
    Write,
    Writer,
    drive,
)

_P = ParamSpec("_P")
_T = TypeVar("_T")

_VISIBLE: Final = re.compile(r"[A-Za-z0-9._-]+")
#: Storage paths other than ``/``, one a line (``.`` and ``..`` components checked apart).
_PATH_LINES: Final = re.compile(r"(?:(?:/[A-Za-z0-9._-]+)+\n)*")
_PARTIAL: Final = "#partial"
#: Bytes per read; large enough that thread hand-off costs little next to the copy.
_READ_CHUNK: Final = 1 << 20
#: Writes are gathered up to this size before one worker thread writes them out: a
#: thread hop costs far less than writing this much, and streamed uploads reach the
#: file (and the disk) soon after they arrive.
_WRITE_BUFFER: Final = 1 << 20
#: Most buffers one ``writev`` takes (Linux's ``IOV_MAX``).
_IOV_MAX: Final = 1024
#: Writes smaller than this start no early writeback: the ``fsync`` that soon follows
#: writes them at once, and the hint would be two system calls more per chunk.
_WRITEBACK_MIN: Final = 256 << 10
#: How often to retry creating a file whose fresh parent a concurrent prune removed.
_CREATE_ATTEMPTS: Final = 8
#: Directory scans per worker-thread hop of a walk: few hops, and a bounded batch in memory.
_WALK_SCANS: Final = 256
_FILE_MODE: Final = 0o644

DEFAULT_ROOT: Final = "./.data"


class FilesystemDriver(StorageDriver):
    """Content in files below ``rootdirectory``, written atomically and durably."""

    name = "filesystem"

    def __init__(self, rootdirectory: str | os.PathLike[str] = DEFAULT_ROOT) -> None:
        self._root = os.path.abspath(os.fspath(rootdirectory))
        self._listings = FolderListings()
        self._memo: ReadMemo | None = None
        self._memo_decided = False
        self._files = _LocalFiles(self._root)
        self._steps = _Steps(self, self._files)

    @property
    def root(self) -> str:
        """The absolute local directory holding the content."""
        return self._root

    def _os_path(self, path: str, *, allow_root: bool = False) -> str:
        validate_path(path, allow_root=allow_root)
        # Validation leaves no '..', '.', empty or foreign components, so this stays
        # below the root.
        return self._root if path == "/" else self._root + path

    # -- interface -------------------------------------------------------------------------

    async def get_content(self, path: str) -> bytes:
        self._os_path(path)  # validated; the read below takes storage paths
        content = await asyncio.to_thread(self._files.read, path)
        if content is None:
            raise PathNotFound(path)
        return content

    async def put_content(self, path: str, content: bytes) -> None:
        target = self._os_path(path)
        await asyncio.to_thread(_put, target, bytes(content))

    async def reader(
        self, path: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        target = self._os_path(path)
        if offset < 0:
            raise InvalidOffset(path, offset)
        fd, size = await asyncio.to_thread(_open_for_read, path, target)
        if offset > size:
            os.close(fd)
            raise InvalidOffset(path, offset)
        end = size if length is None else min(size, offset + max(length, 0))
        return _FileStream(fd, offset, end)

    async def writer(self, path: str, append: bool = False) -> FileWriter:
        target = self._os_path(path)
        fd, size = await asyncio.to_thread(_open_partial, path, target, append)
        return _FilesystemWriter(_BlockingWriter(self, path, target, fd, size))

    async def stat(self, path: str) -> FileInfo:
        target = self._os_path(path, allow_root=True)
        return await asyncio.to_thread(self._stat, path, target)

    def _stat(self, path: str, target: str) -> FileInfo:
        try:
            st = os.stat(target)
        except (FileNotFoundError, NotADirectoryError):
            if path == "/":
                return FileInfo(path, 0, datetime.now(UTC), is_dir=True)
            raise PathNotFound(path) from None
        if statmod.S_ISDIR(st.st_mode):
            if path != "/" and not _has_visible(target):
                raise PathNotFound(path)
            return FileInfo(path, 0, _mtime(st), is_dir=True)
        return FileInfo(path, st.st_size, _mtime(st), is_dir=False)

    async def list(self, path: str) -> list[str]:
        target = self._os_path(path, allow_root=True)
        return [info.path for info in await asyncio.to_thread(_scan, path, target)]

    async def list_names(self, paths: Sequence[str]) -> builtins.list[builtins.list[str] | None]:
        """One directory read per path, all in one worker thread, without a descent per child."""
        targets = [(path, self._os_path(path, allow_root=True)) for path in paths]
        return await asyncio.to_thread(_list_names, self._listings, targets)

    # -- plans -----------------------------------------------------------------------------

    async def run(self, plan: Callable[[], Plan[_T]], *, reads_only: bool = False) -> _T:
        """Carry out a plan whole in one worker thread: a step on a local disk costs less
        than a hand-off to a thread. A plan that only reads is first answered from the
        read memo, on the event loop, when the memo holds every read it makes (or its
        whole result, for a plan ``_plan_key`` names); else its thread's reads teach the
        memo."""
        memo = self._read_memo() if reads_only else None
        if memo is None:
            # The executor's future directly: no task, no context copy as ``to_thread``.
            return await _waited(
                asyncio.get_running_loop().run_in_executor(None, drive, plan(), self._steps.execute)
            )
        memo.refresh()
        key = _plan_key(plan)
        if key is not None:
            try:
                return memo.result(key)  # type: ignore[return-value]
            except Unremembered:
                pass
            except TypeError:  # an argument that does not hash
                key = None
        try:
            result = _answer_from_memo(plan(), memo)
        except _Miss:
            pass
        else:
            if key is not None and _is_hashable(result):
                memo.keep_result(key, result)
            return result
        loop = asyncio.get_running_loop()
        recording = memo.recording()
        thread = loop.run_in_executor(None, drive, plan(), _Steps(self, recording).execute)
        # Learn once the thread is done, even if the caller is cancelled meanwhile.
        thread.add_done_callback(lambda _: memo.remember(recording))
        return await _waited(thread)

    def _read_memo(self) -> ReadMemo | None:
        """One memo of small reads per driver, kept true by inotify on local file systems."""
        if not self._memo_decided:
            self._memo_decided = True
            self._memo = ReadMemo.for_root(
                _LocalFiles(self._root), self._list_names_blocking, self._root
            )
        return self._memo

    async def close(self) -> None:
        if self._memo is not None:
            self._memo.close()
            self._memo, self._memo_decided = None, False

    def _list_names_blocking(
        self, paths: Sequence[str]
    ) -> builtins.list[builtins.list[str] | None]:
        """``list_names`` in the calling (worker) thread: every path validated, then read."""
        lines = "\n".join(paths) + "\n"
        if _PATH_LINES.fullmatch(lines) and lines.count("\n") == len(paths):
            slashed = lines.replace("\n", "/")
            if "/./" not in slashed and "/../" not in slashed:
                # Every path valid, checked in one pass rather than one component at a time.
                return _list_names(self._listings, [(path, self._root + path) for path in paths])
        targets = [(path, self._os_path(path, allow_root=True)) for path in paths]
        return _list_names(self._listings, targets)

    async def walk(
        self, path: str, skip_dir: Callable[[FileInfo], bool] | None = None
    ) -> AsyncIterator[FileInfo]:
        """Like the base walk, with one directory scan per directory instead of a stat per
        entry, and up to ``_WALK_SCANS`` scans per worker-thread hop (``skip_dir`` is called
        in that thread)."""
        target = self._os_path(path, allow_root=True)
        pending: list[FileInfo] = await asyncio.to_thread(_scan, path, target)
        pending.reverse()
        while pending:
            found, pending = await asyncio.to_thread(_walk_scans, self._root, pending, skip_dir)
            for info in found:
                yield info

    async def move(self, source: str, destination: str) -> None:
        source_target = self._os_path(source)
        destination_target = self._os_path(destination)
        await asyncio.to_thread(self._move, source, source_target, destination_target)

    def _move(
        self, source: str, source_target: str, destination_target: str, durable: bool = True
    ) -> None:
        try:
            if not statmod.S_ISREG(os.stat(source_target).st_mode):
                raise PathNotFound(source)
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFound(source) from None
        if source_target == destination_target:
            return
        destination_dir = _rename_into(source, source_target, destination_target)
        if durable:
            _fsync_dir(destination_dir)
        source_dir = os.path.dirname(source_target)
        if source_dir != destination_dir:
            if durable:
                _fsync_dir(source_dir)
            self._prune(source_dir)

    async def delete(self, path: str) -> None:
        target = self._os_path(path, allow_root=True)
        await asyncio.to_thread(self._delete, path, target)

    def _delete(self, path: str, target: str) -> None:
        if path == "/":
            try:
                children = os.listdir(target)
            except FileNotFoundError:
                children = []
            if not children:
                raise PathNotFound(path)
            for child in children:
                _remove(os.path.join(target, child))
            return
        found = _remove(target)
        try:
            os.unlink(target + _PARTIAL)
            found = True
        except (FileNotFoundError, NotADirectoryError):
            pass
        if not found:
            raise PathNotFound(path)
        self._prune(os.path.dirname(target))

    async def delete_many(self, paths: Sequence[str]) -> None:
        """Delete the files at ``paths`` in one worker-thread hop (see ``StorageDriver``)."""
        targets = [self._os_path(path) for path in paths]
        await asyncio.to_thread(self._delete_files, targets)

    def _delete_files(self, targets: Sequence[str], prune: bool = True) -> None:
        for target in targets:
            try:
                os.unlink(target)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                continue
            except PermissionError:
                # Other systems refuse to unlink a folder with EPERM: skipped like Linux's.
                if os.path.isdir(target):
                    continue
                raise
        if prune:
            self._prune_each(dict.fromkeys(os.path.dirname(target) for target in targets))

    def _prune_each(self, directories: Iterable[str]) -> None:
        """``_prune`` each of ``directories`` once all their files are gone, deepest first,
        skipping those a prune before has removed or found holding something."""
        settled: set[str] = set()
        for directory in sorted(directories, key=len, reverse=True):
            if directory in settled:
                continue
            self._prune(directory)
            # Each folder on the way up was removed, or holds something and so do its parents.
            while directory not in settled and directory.startswith(self._root + os.sep):
                settled.add(directory)
                directory = os.path.dirname(directory)

    def open_file(self, path: str) -> OpenFile | None:
        """The committed file at ``path``, opened, or None if there is none.

        Opened on the calling thread: an open and an ``fstat`` are cheap metadata calls,
        and the caller sends from the file right away.
        """
        target = self._os_path(path)
        try:
            fd = os.open(target, os.O_RDONLY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            return None
        st = os.fstat(fd)
        if not statmod.S_ISREG(st.st_mode):
            os.close(fd)
            return None
        return OpenFile(fd, st.st_size)

    def _prune(self, directory: str) -> None:
        """Remove ``directory`` and its ancestors while they are empty, never the root."""
        while directory != self._root and directory.startswith(self._root + os.sep):
            try:
                os.rmdir(directory)
            except OSError:
                return
            directory = os.path.dirname(directory)


class _OpenFile:
    """A file descriptor used from worker threads, closed only once no thread uses it.

    A task awaiting a worker thread can be cancelled (a client hangs up) while the thread
    keeps running. Closing the descriptor then could let that thread write into whatever
    file reuses the number, so every call is shielded and closing waits for it to end.
    """

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd
        self._busy: asyncio.Future[Any] | None = None

    @property
    def closed(self) -> bool:
        return self._fd is None

    async def run(
        self, function: Callable[Concatenate[int, _P], _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        """``function(fd, *args)`` in a worker thread, one call at a time."""
        await self._settle()
        if self._fd is None:
            raise ValueError("file is closed")
        future = asyncio.ensure_future(asyncio.to_thread(function, self._fd, *args, **kwargs))
        self._busy = future
        return await asyncio.shield(future)

    async def _settle(self) -> None:
        busy = self._busy
        if busy is None:
            return
        if not busy.done():
            await asyncio.wait([busy])
        self._busy = None
        if not busy.cancelled():
            busy.exception()  # its caller is gone or has seen it; mark it retrieved

    async def close(self) -> None:
        await self._settle()
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        if self._fd is not None and (self._busy is None or self._busy.done()):
            os.close(self._fd)


class _FilesystemWriter(FileWriter):
    """The driver's async ``FileWriter``: its ``_BlockingWriter`` run in worker threads,
    one call at a time, with small writes gathered into one ``writev``.

    A task awaiting a worker thread can be cancelled (a client hangs up) while the thread
    keeps running, so every call is shielded and the next one waits for it to end.
    """

    def __init__(self, inner: _BlockingWriter) -> None:
        self._inner = inner
        self._busy: asyncio.Future[Any] | None = None
        self._closed = False
        # Bytes handed to ``write`` and not yet in the file: kept as the caller's own
        # objects (no copy) and written out together with one ``writev``.
        self._pending: list[bytes] = []
        self._pending_size = 0
        # Counted up front: once handed to a thread, bytes land even if the call that
        # handed them over is cancelled while waiting for it.
        self._size = inner.size

    @property
    def size(self) -> int:
        return self._size

    async def _run(self, function: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """``function(*args)`` in a worker thread, after the previous call has ended."""
        if self._closed:
            raise ValueError("writer is closed")
        busy = self._busy
        if busy is not None and not busy.done():
            await asyncio.wait([busy])
        future = asyncio.ensure_future(asyncio.to_thread(function, *args, **kwargs))
        self._busy = future
        return await asyncio.shield(future)

    async def write(self, data: bytes) -> int:
        if self._closed:
            raise ValueError("writer is closed")
        length = len(data)
        if not length:
            return 0
        # Only immutable bytes may be kept without a copy: the caller may reuse a buffer.
        self._pending.append(data if type(data) is bytes else bytes(data))
        self._pending_size += length
        self._size += length
        if self._pending_size >= _WRITE_BUFFER:
            try:
                await self._run(self._inner.write_all, self._take_pending())
            except OSError:
                # What actually reached the file, so the caller can resume from there.
                self._size = self._inner.size + self._pending_size
                raise
        return length

    def _take_pending(self) -> list[bytes]:
        pending, self._pending, self._pending_size = self._pending, [], 0
        return pending

    async def truncate(self, size: int) -> None:
        if size < 0 or size > self.size:
            raise InvalidOffset(self._inner.path, size)
        await self._run(_truncate, self._inner, self._take_pending(), size)
        self._size = size

    async def close(self) -> None:
        # The last bytes and the sync in one thread hop.
        try:
            await self._run(_finish, self._inner, self._take_pending(), False)
        except OSError:
            self._size = self._inner.size
            raise
        finally:
            self._closed = True

    async def commit(self) -> None:
        await self._run(_finish, self._inner, self._take_pending(), True)
        self._closed = True

    async def cancel(self) -> None:
        self._take_pending()
        await self._run(self._inner.cancel)
        self._closed = True


def _truncate(writer: _BlockingWriter, pending: list[bytes], size: int) -> None:
    if pending:
        writer.write_all(pending)
    writer.truncate(size)


def _finish(writer: _BlockingWriter, pending: list[bytes], commit: bool) -> None:
    """Write ``pending`` and close ``writer`` (and ``commit`` it at its own path)."""
    try:
        if pending:
            writer.write_all(pending, writeback=False)
    except BaseException:
        with contextlib.suppress(OSError):
            writer.close()
        raise
    if commit:
        writer.commit()
    else:
        writer.close()


class _FileStream(AsyncIterator[bytes]):
    """Reads ``[position, end)`` of an open file in worker threads, one chunk at a time."""

    def __init__(self, fd: int, position: int, end: int) -> None:
        self._file = _OpenFile(fd)
        self._position = position
        self._end = end

    def __aiter__(self) -> _FileStream:
        return self

    async def __anext__(self) -> bytes:
        if self._file.closed or self._position >= self._end:
            await self._file.close()
            raise StopAsyncIteration
        want = min(_READ_CHUNK, self._end - self._position)
        chunk = await self._file.run(os.pread, want, self._position)
        if not chunk:  # the file shrank under us
            await self._file.close()
            raise StopAsyncIteration
        self._position += len(chunk)
        return chunk

    async def aclose(self) -> None:
        """Release the file early, when the consumer stops before the end."""
        await self._file.close()


# -- blocking helpers, run in worker threads -----------------------------------------------


def _mtime(st: os.stat_result) -> datetime:
    return datetime.fromtimestamp(st.st_mtime, UTC)


def _is_visible(name: str) -> bool:
    return name not in (".", "..") and _VISIBLE.fullmatch(name) is not None


def _has_visible(directory: str) -> bool:
    """Whether ``directory`` holds any committed file, at any depth (stops at the first)."""
    try:
        with os.scandir(directory) as entries:
            subdirectories = []
            for entry in entries:
                if not _is_visible(entry.name):
                    continue
                if entry.is_file():
                    return True
                if entry.is_dir():
                    subdirectories.append(entry.path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return any(_has_visible(subdirectory) for subdirectory in subdirectories)


def _scan(path: str, target: str) -> list[FileInfo]:
    """The visible direct children of directory ``target``, sorted by path."""
    prefix = "/" if path == "/" else path + "/"
    found: list[FileInfo] = []
    try:
        with os.scandir(target) as entries:
            for entry in entries:
                if not _is_visible(entry.name):
                    continue
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue  # removed while scanning
                if statmod.S_ISDIR(st.st_mode):
                    if _has_visible(entry.path):
                        found.append(FileInfo(prefix + entry.name, 0, _mtime(st), is_dir=True))
                elif statmod.S_ISREG(st.st_mode):
                    found.append(
                        FileInfo(prefix + entry.name, st.st_size, _mtime(st), is_dir=False)
                    )
    except (FileNotFoundError, NotADirectoryError):
        if path == "/":
            return []
        raise PathNotFound(path) from None
    if not found and path != "/":
        raise PathNotFound(path)
    found.sort(key=lambda info: info.path)
    return found


def _walk_scans(
    root: str, pending: list[FileInfo], skip_dir: Callable[[FileInfo], bool] | None
) -> tuple[list[FileInfo], list[FileInfo]]:
    """Up to ``_WALK_SCANS`` steps of a depth-first walk: ``pending`` holds what is still
    to report, next last. Returns what was reported, in order, and what is left."""
    found: list[FileInfo] = []
    scans = 0
    while pending and scans < _WALK_SCANS:
        info = pending.pop()
        found.append(info)
        if info.is_dir and not (skip_dir is not None and skip_dir(info)):
            scans += 1
            try:
                below = _scan(info.path, root + info.path)
            except PathNotFound:
                continue  # removed while walking
            below.reverse()
            pending.extend(below)
    return found, pending


def _list_names(listings: FolderListings, targets: list[tuple[str, str]]) -> list[list[str] | None]:
    """For each (path, directory): its visible child names, sorted; None if no directory."""
    found: list[list[str] | None] = []
    for path, target in targets:
        names = listings.names(target)
        found.append([] if names is None and path == "/" else names)
    return found


def _open_for_read(path: str, target: str) -> tuple[int, int]:
    """An open descriptor of the regular file at ``target`` and its size."""
    try:
        fd = os.open(target, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        raise PathNotFound(path) from None
    st = os.fstat(fd)
    if not statmod.S_ISREG(st.st_mode):
        os.close(fd)
        raise PathNotFound(path)
    return fd, st.st_size


def _open_partial(path: str, target: str, append: bool) -> tuple[int, int]:
    """An append descriptor of ``target``'s uncommitted content and its current size."""
    partial = target + _PARTIAL
    flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
    if append:
        try:
            fd = os.open(partial, flags)
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFound(path) from None
        return fd, os.fstat(fd).st_size
    fd = _create(partial, flags | os.O_CREAT | os.O_TRUNC)
    return fd, 0


def _create(file: str, flags: int) -> int:
    """Open ``file`` with ``flags``, creating its parents (again, if a prune raced us)."""
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            return os.open(file, flags, _FILE_MODE)
        except FileNotFoundError:
            if attempt == _CREATE_ATTEMPTS - 1:
                raise
            # A delete may remove a parent again while it is made: the next attempt mends.
            with contextlib.suppress(FileNotFoundError):
                _make_dirs(os.path.dirname(file))
    raise AssertionError("unreachable")


def _make_dirs(directory: str) -> None:
    """Create ``directory`` and its missing parents.

    Unlike ``os.makedirs``, which looks at every parent before creating anything, this
    tries the folder itself first: one system call when it exists already.
    """
    try:
        os.mkdir(directory)
    except FileExistsError:
        pass
    except FileNotFoundError:
        parent = os.path.dirname(directory)
        if parent == directory:
            raise
        _make_dirs(parent)
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory)


def _temp_name(target: str) -> str:
    # ``random`` is reseeded in forked children and seeded from the OS in new processes;
    # names only need to be unlikely to collide (they are created O_EXCL), and this costs
    # no system call, unlike ``secrets``.
    return f"{target}#{random.getrandbits(64):016x}.tmp"


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _append(fd: int, chunks: list[bytes], writeback: bool = True) -> None:
    """Append ``chunks`` with as few ``writev`` calls as the kernel allows, then (with
    ``writeback``) start their writeback so the ``fsync`` that publishes them has little
    left to do."""
    total = sum(len(chunk) for chunk in chunks)
    views = [memoryview(chunk) for chunk in chunks]
    first = 0
    while first < len(views):
        written = os.writev(fd, views[first : first + _IOV_MAX])
        while first < len(views) and written >= len(views[first]):
            written -= len(views[first])
            first += 1
        if written:
            views[first] = views[first][written:]
    if writeback and total >= _WRITEBACK_MIN:
        # O_APPEND leaves the position at the end of what was just written.
        end = os.lseek(fd, 0, os.SEEK_CUR)
        start_writeback(fd, end - total, total)


def _file_size(fd: int) -> int:
    return os.fstat(fd).st_size


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _put(target: str, content: bytes, durability: Durability = "full") -> None:
    """Write ``content`` to a temporary sibling, make it durable, then rename it into place
    and make the rename durable (each step as far as ``durability`` asks).

    A delete of the folder running meanwhile removes the temporary file with it; the put
    then starts again, so it takes effect after that delete rather than failing.
    """
    for attempt in range(_CREATE_ATTEMPTS):
        temp = _temp_name(target)
        fd = _create(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC)
        try:
            try:
                _write_all(fd, content)
                if durability != "none":
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, target)
        except FileNotFoundError:
            if attempt == _CREATE_ATTEMPTS - 1 or os.path.lexists(temp):
                _unlink_quietly(temp)
                raise
            continue
        except BaseException:
            _unlink_quietly(temp)
            raise
        break
    if durability == "full":
        _fsync_dir(os.path.dirname(target))


def _publish_partial(path: str, target: str) -> None:
    """Rename durable uncommitted content onto its path and make the rename durable."""
    try:
        os.replace(target + _PARTIAL, target)
    except (FileNotFoundError, NotADirectoryError):
        raise PathNotFound(path) from None
    _fsync_dir(os.path.dirname(target))


def _rename_into(source: str, source_target: str, destination_target: str) -> str:
    """Rename a file onto ``destination_target``, creating its folder (again, if a prune
    raced us) or copying across file systems; returns the destination folder."""
    destination_dir = os.path.dirname(destination_target)
    for attempt in range(_CREATE_ATTEMPTS):
        _make_dirs(destination_dir)
        try:
            os.replace(source_target, destination_target)
            break
        except FileNotFoundError:
            if not os.path.exists(source_target):
                raise PathNotFound(source) from None
            if attempt == _CREATE_ATTEMPTS - 1:
                raise
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise
            _copy_across_devices(source_target, destination_target)
            break
    return destination_dir


def _copy_across_devices(source: str, destination: str) -> None:
    """Move a file between file systems: durable copy under a temporary name, then rename."""
    temp = _temp_name(destination)
    try:
        with open(source, "rb") as reader, open(temp, "xb") as writer:
            shutil.copyfileobj(reader, writer, _WRITE_BUFFER)
            writer.flush()
            os.fsync(writer.fileno())
        os.replace(temp, destination)
    except BaseException:
        _unlink_quietly(temp)
        raise
    os.unlink(source)


def _remove(target: str) -> bool:
    """Remove the file or directory tree at ``target``; False if there was none."""
    try:
        os.unlink(target)  # most deletes are of one file: one system call
        return True
    except (FileNotFoundError, NotADirectoryError):
        return False
    except IsADirectoryError:
        pass  # Linux's answer for a folder
    except PermissionError:
        # Other systems refuse to unlink a folder with EPERM.
        try:
            if not statmod.S_ISDIR(os.lstat(target).st_mode):
                raise
        except FileNotFoundError:
            return False
    try:
        _remove_tree(target)
    except FileNotFoundError:
        return False
    return True


def _remove_tree(directory: str) -> None:
    """Remove a folder and everything below it (symbolic links are removed, not followed)."""
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                _remove_tree(entry.path)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
    try:
        os.rmdir(directory)
    except OSError as error:
        # A put landed in the folder after it was emptied: that put follows this delete.
        if error.errno != errno.ENOTEMPTY:
            raise


def _unlink_quietly(file: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(file)


_MISSING: Final = (FileNotFoundError, NotADirectoryError, IsADirectoryError)
_SMALL_READ: Final = 64 << 10


class _LocalFiles:
    """Reads of small committed files below a root directory, in the calling (worker)
    thread; absence is None. Paths come from the path mapper and are not validated."""

    def __init__(self, root: str) -> None:
        self.root = root

    def read(self, path: str) -> bytes | None:
        # Raw descriptors: a Python file object costs more than reading a 71-byte link.
        try:
            fd = os.open(self.root + path, os.O_RDONLY | os.O_CLOEXEC)
        except _MISSING:
            return None
        try:
            chunk = os.read(fd, _SMALL_READ)
            if len(chunk) < _SMALL_READ:
                # A regular file reads short only at its end: no second read to see it.
                return chunk
            chunks = [chunk]
            while chunk := os.read(fd, _SMALL_READ):
                chunks.append(chunk)
        except IsADirectoryError:
            return None
        finally:
            os.close(fd)
        return b"".join(chunks)

    def size(self, path: str) -> int | None:
        try:
            info = os.stat(self.root + path)
        except _MISSING:
            return None
        return info.st_size if statmod.S_ISREG(info.st_mode) else None


class _BlockingWriter(Writer):
    """A writer for worker threads, appending to ``<name>#partial`` as ``_FilesystemWriter``
    does; a plan's ``Writer`` on this driver."""

    def __init__(
        self, driver: FilesystemDriver, path: str, target: str, fd: int, size: int
    ) -> None:
        self._driver = driver
        self.path = path
        self._target = target
        self._fd: int | None = fd
        self._size = size

    @property
    def size(self) -> int:
        return self._size

    def _open_fd(self) -> int:
        if self._fd is None:
            raise ValueError("writer is closed")
        return self._fd

    def write_all(self, chunks: Sequence[bytes], writeback: bool = True) -> None:
        """Append ``chunks`` with as few system calls as the kernel allows, and (with
        ``writeback``) start their writeback, so that ``close`` has little left to sync."""
        fd = self._open_fd()
        try:
            _append(fd, list(chunks), writeback)
        except OSError:
            # Report what actually reached the file, so the caller can resume from there.
            self._size = _file_size(fd)
            raise
        self._size += sum(len(chunk) for chunk in chunks)

    def truncate(self, size: int) -> None:
        fd = self._open_fd()
        if size < 0 or size > self._size:
            raise InvalidOffset(self.path, size)
        # The file is opened O_APPEND, so later writes land at the new end.
        os.ftruncate(fd, size)
        self._size = size

    def close(self) -> None:
        fd = self._open_fd()
        self._fd = None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def commit(self, destination: str | None = None) -> None:
        if destination is None:
            self.close()
            _publish_partial(self.path, self._target)
            return
        destination_target = self._driver._os_path(destination)
        self.close()
        # Only the new name must be durable: should the old one outlive a crash, it is
        # uncommitted content nobody reads, removed with its folder.
        _fsync_dir(_rename_into(self.path, self._target + _PARTIAL, destination_target))
        self._driver._prune(os.path.dirname(self._target))

    def cancel(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._target + _PARTIAL)
            self._driver._prune(os.path.dirname(self._target))

    def __del__(self) -> None:
        if self._fd is not None:
            os.close(self._fd)


# -- plans -----------------------------------------------------------------------------------


async def _waited(future: asyncio.Future[_T]) -> _T:
    """The result of a worker thread's ``future``; a cancelled caller still waits for the
    thread to end, so nothing it holds (a session's lock, a writer) is let go under it."""
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        if not future.done():
            await asyncio.wait([future])
        raise


def _plan_key(plan: Callable[[], Plan[Any]]) -> Hashable | None:
    """What names a read-only plan's result for the read memo, or None if nothing can.

    A plan made by a module-level function, called as it is or through a
    ``functools.partial`` of its arguments, computes its result from those arguments
    and the files it reads alone; a lambda or a nested function may depend on anything
    it closes over, so its result is never remembered whole. (Arguments that do not
    hash are found out by the memo's look-up.)
    """
    if type(plan) is functools.partial:
        if plan.keywords:
            return None
        function, args = plan.func, plan.args
    else:
        function, args = plan, ()
    if type(function) is not FunctionType or "<" in function.__qualname__:
        return None
    return (function, args)


def _is_hashable(value: object) -> bool:
    """Whether ``value`` hashes: immutable by Python's convention, so a remembered result
    may be handed to every caller."""
    try:
        hash(value)
    except TypeError:
        return False
    return True


class _Miss(BaseException):
    """The memo cannot answer this step: run the plan in a thread. (A BaseException, so
    that it leaves the plan at once rather than being handed to it.)"""


def _answer_from_memo(plan: Plan[_T], memo: ReadMemo) -> _T:
    """``plan``'s result with every read answered from ``memo``; ``_Miss`` at the first
    step it cannot answer (any step but a read). The hot path of a pull: kept lean."""
    answer: Any = None
    try:
        while True:
            step = plan.send(answer)
            kind = type(step)
            if kind is Read:
                answer = memo.read(step.path)  # type: ignore[union-attr]
            elif kind is Size:
                answer = memo.size(step.path)  # type: ignore[union-attr]
            elif kind is Listing:
                answer = [memo.names(path) for path in step.paths]  # type: ignore[union-attr]
            elif kind is Each:
                answer = [_answer_from_memo(each(), memo) for each in step.plans]  # type: ignore[union-attr]
            else:
                raise _Miss()
    except StopIteration as done:
        result: _T = done.value
        return result
    except Unremembered:
        raise _Miss() from None


class _Steps:
    """Every plan step as blocking calls below the driver's root (in a worker thread).

    ``reads`` answers ``Read`` and ``Size`` (a recording of the read memo, or plain
    reads); paths that are only read come from the path mapper and are not validated
    again, paths that are written are.
    """

    def __init__(self, driver: FilesystemDriver, reads: _LocalFiles | Recording) -> None:
        self._driver = driver
        self._reads = reads

    def execute(self, step: Step) -> Any:
        driver = self._driver
        if isinstance(step, Read):
            return self._reads.read(step.path)
        if isinstance(step, Size):
            return self._reads.size(step.path)
        if isinstance(step, Listing):
            if isinstance(self._reads, Recording):
                return [self._reads.names(path) for path in step.paths]
            return driver._list_names_blocking(step.paths)
        if isinstance(step, Put):
            return _put(driver._os_path(step.path), bytes(step.content), step.durability)
        if isinstance(step, Delete):
            try:
                driver._delete(step.path, driver._os_path(step.path, allow_root=True))
            except PathNotFound:
                return False
            return True
        if isinstance(step, DeleteFiles):
            return driver._delete_files([driver._os_path(path) for path in step.paths], step.prune)
        if isinstance(step, ModTime):
            try:
                return _mtime(os.stat(driver._os_path(step.path, allow_root=True)))
            except (FileNotFoundError, NotADirectoryError):
                return None
        if isinstance(step, Move):
            source = driver._os_path(step.source)
            destination = driver._os_path(step.destination)
            return driver._move(step.source, source, destination, step.durability != "none")
        if isinstance(step, OpenWriter):
            target = driver._os_path(step.path)
            try:
                fd, size = _open_partial(step.path, target, step.append)
            except PathNotFound:
                if step.append:
                    return None
                raise
            return _BlockingWriter(driver, step.path, target, fd, size)
        if isinstance(step, Adopt):
            return _adopt(driver, step.path, driver._os_path(step.path), step.size)
        if isinstance(step, Hash):
            for chunk in step.chunks:
                step.hasher.update(chunk)
            return None
        if isinstance(step, HashStored):
            return _hash_file(driver._os_path(step.path), step.path, step.algorithm)
        if isinstance(step, Each):
            return [drive(plan(), self.execute) for plan in step.plans]
        writer = step.writer
        assert isinstance(writer, _BlockingWriter)
        if isinstance(step, Write):
            writer.write_all(step.chunks)
        elif isinstance(step, Truncate):
            writer.truncate(step.size)
        elif isinstance(step, Close):
            writer.close()
        elif isinstance(step, Commit):
            writer.commit(step.destination)
        else:
            writer.cancel()
        return None


def _adopt(driver: FilesystemDriver, path: str, target: str, size: int) -> _BlockingWriter | None:
    """Committed content (written in place by another registry) turned uncommitted and
    cut to ``size`` bytes, as a writer; None if there is no such content or it is shorter."""
    try:
        if not statmod.S_ISREG(os.stat(target).st_mode) or os.stat(target).st_size < size:
            return None
        os.replace(target, target + _PARTIAL)
    except (FileNotFoundError, NotADirectoryError):
        return None
    fd, _ = _open_partial(path, target, append=True)
    os.ftruncate(fd, size)
    return _BlockingWriter(driver, path, target, fd, size)


def _hash_file(target: str, path: str, algorithm: str) -> str:
    hasher = hashlib.new(algorithm)
    fd, _ = _open_for_read(path, target)
    with os.fdopen(fd, "rb") as file:
        while chunk := file.read(_READ_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()
