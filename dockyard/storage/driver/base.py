"""The storage driver interface: bytes at paths, for every backend.

A driver is a small, filesystem-like, async object store. Everything above it (the path
mapper, the stores) speaks only this interface, and one shared test suite
(``tests/drivers/``) holds every driver to the same behaviour.

Paths are absolute and ``/``-separated; every component matches ``[A-Za-z0-9._-]+`` and
is neither ``.`` nor ``..``. A driver rejects anything else with ``InvalidPath`` before
touching its backend. ``/`` itself names the root and is valid for ``list``, ``stat``,
``walk`` and ``delete``.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import os
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeVar

from dockyard.errors import DockyardError
from dockyard.storage.driver.plan import (
    Adopt,
    Close,
    Commit,
    Delete,
    DeleteFiles,
    Each,
    Hash,
    Hashing,
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
)

_COMPONENT: Final = re.compile(r"[A-Za-z0-9._-]+")
#: Below this many bytes, hashing inline costs less than a hand-off to a worker thread.
THREAD_HASH_MIN: Final = 64 << 10
T = TypeVar("T")


class StorageDriverError(DockyardError):
    """A storage driver failed."""


class PathNotFound(StorageDriverError):
    """Nothing exists at the path."""

    def __init__(self, path: str) -> None:
        # The path stays on the exception for logs and callers, never in the message,
        # because messages may reach clients and storage paths must not.
        super().__init__("content not found")
        self.path = path


class InvalidPath(StorageDriverError):
    """The path is not a valid storage path."""

    def __init__(self, path: str) -> None:
        super().__init__("invalid storage path")
        self.path = path


class InvalidOffset(StorageDriverError):
    """The offset lies outside the content."""

    def __init__(self, path: str, offset: int) -> None:
        super().__init__(f"offset {offset} is outside the content")
        self.path = path
        self.offset = offset


class Unsupported(StorageDriverError):
    """The driver does not support this operation."""


def validate_path(path: str, *, allow_root: bool = False) -> str:
    """Return ``path`` if it is a valid storage path, else raise ``InvalidPath``."""
    if path == "/":
        if allow_root:
            return path
        raise InvalidPath(path)
    if not path.startswith("/"):
        raise InvalidPath(path)
    for component in path[1:].split("/"):
        if component in (".", "..") or not _COMPONENT.fullmatch(component):
            raise InvalidPath(path)
    return path


def parent_of(path: str) -> str:
    """The parent of a storage path (``/`` for top-level paths)."""
    head = path.rsplit("/", 1)[0]
    return head or "/"


def join(*parts: str) -> str:
    """Join storage path pieces with single slashes."""
    return "/" + "/".join(p.strip("/") for p in parts if p.strip("/"))


@dataclass(frozen=True, slots=True)
class FileInfo:
    """What ``stat`` reports about a path."""

    path: str
    size: int
    mod_time: datetime
    is_dir: bool


class OpenFile:
    """Committed content that a driver opened as a local file, to send without copies.

    It holds the file's descriptor, never its path: what is sent is what was opened,
    even if the path is replaced or removed meanwhile. Whoever receives it closes it;
    ``close`` may be called more than once, and a forgotten file is closed when collected.
    """

    __slots__ = ("_fd", "size")

    def __init__(self, fd: int, size: int) -> None:
        self._fd: int | None = fd
        #: The file's size when it was opened.
        self.size = size

    @property
    def fd(self) -> int:
        """The open descriptor (``ValueError`` once closed)."""
        if self._fd is None:
            raise ValueError("the file is closed")
        return self._fd

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        self.close()


class FileWriter(Writer, ABC):
    """Writes one path's content, possibly across several processes.

    Bytes written are durable when ``close`` or ``commit`` returns, but readable at the
    path only after ``commit``. A writer opened later with ``append=True`` on the same
    path, from any process sharing the backend, continues where the last closed writer
    stopped; this is what makes uploads resumable and shareable between instances.
    """

    @property
    @abstractmethod
    def size(self) -> int:
        """Bytes written so far, including those of earlier writers appended to."""

    @abstractmethod
    async def write(self, data: bytes) -> int:
        """Append ``data``; returns the number of bytes written."""

    @abstractmethod
    async def truncate(self, size: int) -> None:
        """Drop content after ``size`` bytes (to resume from the last acknowledged byte).

        Raises ``InvalidOffset`` for a size beyond the content and ``Unsupported`` where
        the backend cannot cut at that size.
        """

    @abstractmethod
    async def close(self) -> None:
        """Make what was written durable and release the writer, leaving it uncommitted."""

    async def release(self) -> None:
        """Release the writer without keeping what it wrote since it was opened: as if the
        process had stopped here, so that a writer opened later with ``append=True``
        continues from what the last ``close`` kept, or from more (this default closes).

        For bytes nobody acknowledged: where ``close`` would record them over what was
        acknowledged and a resume could not cut them off again (an object store's stored
        parts), a driver drops them instead."""
        await self.close()

    @abstractmethod
    async def commit(self) -> None:
        """Publish the content at the path, atomically and durably, and release the writer."""

    @abstractmethod
    async def cancel(self) -> None:
        """Discard everything written, including by earlier writers, and release the writer."""


class StorageDriver(ABC):
    """The interface every storage backend implements."""

    #: The driver's name in configuration (``filesystem``, ``inmemory``, ``s3``).
    name: str = ""

    @abstractmethod
    async def get_content(self, path: str) -> bytes:
        """The whole content at ``path`` (for small objects). ``PathNotFound`` if absent."""

    @abstractmethod
    async def put_content(self, path: str, content: bytes) -> None:
        """Store ``content`` at ``path`` atomically and durably, replacing what was there."""

    @abstractmethod
    async def reader(
        self, path: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """A stream of the content at ``path`` from ``offset``, at most ``length`` bytes.

        Errors (``PathNotFound``, ``InvalidOffset`` for an offset past the end) are raised
        by this call itself, before the first chunk, so callers can answer cleanly. An
        offset equal to the size yields nothing.
        """

    @abstractmethod
    async def writer(self, path: str, append: bool = False) -> FileWriter:
        """A writer for ``path``.

        ``append=False`` starts fresh, discarding uncommitted content; ``append=True``
        continues uncommitted content written earlier (``PathNotFound`` if there is none).
        """

    @abstractmethod
    async def stat(self, path: str) -> FileInfo:
        """Size, modification time and kind of ``path``. ``PathNotFound`` if absent."""

    @abstractmethod
    async def list(self, path: str) -> list[str]:
        """Full paths of the direct children of directory ``path``, sorted.

        ``PathNotFound`` if the directory does not exist (the root always exists).
        """

    @abstractmethod
    async def move(self, source: str, destination: str) -> None:
        """Move committed content, replacing the destination. ``PathNotFound`` if no source."""

    @abstractmethod
    async def delete(self, path: str) -> None:
        """Delete ``path`` and everything below it. ``PathNotFound`` if absent."""

    async def delete_many(self, paths: Sequence[str]) -> None:
        """Delete the committed files at ``paths``, as a batch.

        For deleting many files at once (a collector's sweep): a path with no file at it
        (absent, or a folder) is skipped, so there is nothing to report; every path is
        validated before anything is deleted. Object stores delete up to a thousand keys
        per request. This default deletes the files one by one through ``delete``.
        """
        for path in paths:
            validate_path(path)

        async def one(path: str) -> None:
            with contextlib.suppress(PathNotFound):
                if not (await self.stat(path)).is_dir:
                    await self.delete(path)

        await asyncio.gather(*(one(path) for path in paths))

    async def walk(
        self, path: str, skip_dir: Callable[[FileInfo], bool] | None = None
    ) -> AsyncIterator[FileInfo]:
        """Everything below ``path``, depth first, in lexical order, directories first.

        A directory for which ``skip_dir`` returns true is reported but not descended.
        Drivers with a cheaper recursive listing override this.
        """
        for child in await self.list(path):
            try:
                info = await self.stat(child)
            except PathNotFound:
                continue  # removed while walking
            yield info
            if info.is_dir and not (skip_dir is not None and skip_dir(info)):
                async for below in self.walk(child, skip_dir):
                    yield below

    async def list_names(self, paths: Sequence[str]) -> builtins.list[builtins.list[str] | None]:
        """The names (last components) of the direct children of each of ``paths``, sorted.

        A batched, cheaper ``list`` for listings that must be fast (tags, the catalog):
        one entry per path, in order, ``None`` where the path is no directory. Unlike
        ``list``, a driver may also report a directory that holds only content still
        being written (and such a directory itself as ``[]`` rather than ``None``), since
        telling those apart costs a descent into every child. Drivers that can list
        several directories in one backend round trip override this.
        """

        async def one(path: str) -> builtins.list[str] | None:
            try:
                children = await self.list(path)
            except PathNotFound:
                return None
            return [child.rsplit("/", 1)[-1] for child in children]

        return builtins.list(await asyncio.gather(*(one(path) for path in paths)))

    # -- plans -----------------------------------------------------------------------------

    async def run(self, plan: Callable[[], Plan[T]], *, reads_only: bool = False) -> T:
        """Carry out the plan ``plan()`` makes (see ``plan``), returning its result.

        Here each step is awaited through the async interface. ``reads_only`` promises
        that the plan only reads, so a driver may answer it from what it remembers; and
        ``plan`` may be called more than once, so a driver may start over. A read-only
        plan made by a module-level function (itself, or a ``functools.partial`` of it)
        computes its result from its arguments and what it reads alone, so a driver
        that knows the files did not change may hand out that result again.
        """
        return await self._drive(plan())

    async def _drive(self, steps: Plan[T]) -> T:
        answer: Any = None
        error: Exception | None = None
        while True:
            try:
                step = steps.throw(error) if error is not None else steps.send(answer)
            except StopIteration as done:
                result: T = done.value
                return result
            try:
                answer, error = await self._step(step), None
            except Exception as failure:  # handed to the plan, which may handle it
                answer, error = None, failure

    async def _step(self, step: Step) -> Any:
        """One step of a plan through the async interface."""
        if isinstance(step, Read):
            try:
                return await self.get_content(step.path)
            except PathNotFound:
                return None
        if isinstance(step, Size | ModTime):
            try:
                info = await self.stat(step.path)
            except PathNotFound:
                return None
            if isinstance(step, ModTime):
                return info.mod_time
            return None if info.is_dir else info.size
        if isinstance(step, Listing):
            return await self.list_names(step.paths)
        if isinstance(step, Put):
            return await self.put_content(step.path, step.content)
        if isinstance(step, Delete):
            try:
                await self.delete(step.path)
            except PathNotFound:
                return False
            return True
        if isinstance(step, DeleteFiles):
            return await self.delete_many(step.paths)
        if isinstance(step, Move):
            return await self.move(step.source, step.destination)
        if isinstance(step, OpenWriter):
            try:
                return await self.writer(step.path, step.append)
            except PathNotFound:
                if step.append:
                    return None
                raise
        if isinstance(step, Adopt):
            return await self._adopt(step.path, step.size)
        if isinstance(step, Hash):
            await _hash(step.hasher, step.chunks)
            return None
        if isinstance(step, HashStored):
            return await self._hash_stored(step.path, step.algorithm)
        if isinstance(step, Each):
            return await asyncio.gather(*(self._drive(plan()) for plan in step.plans))
        writer = step.writer
        assert isinstance(writer, FileWriter)
        if isinstance(step, Write):
            for chunk in step.chunks:
                await writer.write(chunk)
        elif isinstance(step, Truncate):
            await writer.truncate(step.size)
        elif isinstance(step, Close):
            await (writer.close() if step.keep else writer.release())
        elif isinstance(step, Commit):
            await writer.commit()
            if step.destination is not None and step.destination != step.path:
                await self.move(step.path, step.destination)
        else:
            await writer.cancel()
        return None

    async def _adopt(self, path: str, size: int) -> FileWriter | None:
        """A writer continuing the first ``size`` bytes of committed content, copied once."""
        try:
            info = await self.stat(path)
            if info.is_dir or info.size < size:
                return None
            stream = await self.reader(path, 0, size)
        except PathNotFound:
            return None
        writer = await self.writer(path, append=False)
        try:
            async for chunk in stream:
                await writer.write(chunk)
        except BaseException:
            with contextlib.suppress(Exception):
                await writer.cancel()
            raise
        return writer

    async def _hash_stored(self, path: str, algorithm: str) -> str:
        """The digest of committed content, streamed through ``hashlib`` off the loop."""
        hasher = hashlib.new(algorithm)
        async for chunk in await self.reader(path):
            await _hash(hasher, [chunk])
        return hasher.hexdigest()

    async def check(self, *, writable: bool = True) -> None:  # noqa: B027 - optional hook
        """Confirm that the backend is there and, if ``writable``, takes writes.

        Start-up (``serve``, ``config check``) calls this so that a misconfigured backend
        stops it at once: ``StorageDriverError`` whose message begins with the
        configuration key at fault. Drivers whose backend cannot be missing keep this.
        """

    async def redirect_url(self, path: str, method: str = "GET") -> str | None:
        """A URL the client can fetch the content from directly, or None."""
        return None

    def open_file(self, path: str) -> OpenFile | None:
        """The committed content at ``path`` opened as a local file, or None.

        Drivers over local storage offer it so that a blob is sent straight from its
        file; others answer None and the content is streamed through ``reader``.
        """
        return None

    async def close(self) -> None:  # noqa: B027 - optional hook, most drivers hold nothing
        """Release connections and other resources."""


async def _hash(hasher: Hashing, chunks: Sequence[bytes]) -> None:
    """Feed ``chunks`` to ``hasher``, in a worker thread when they are large."""
    if sum(len(chunk) for chunk in chunks) >= THREAD_HASH_MIN:
        await asyncio.to_thread(_hash_all, hasher, chunks)
    else:
        _hash_all(hasher, chunks)


def _hash_all(hasher: Hashing, chunks: Sequence[bytes]) -> None:
    for chunk in chunks:
        hasher.update(chunk)
