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
import os
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final, Literal, Protocol

from dockyard.errors import DockyardError

if TYPE_CHECKING:
    from dockyard.storage.driver.read_memo import ReadMemo

_COMPONENT: Final = re.compile(r"[A-Za-z0-9._-]+")


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


class BlockingReads(Protocol):
    """Blocking access to small committed files (see ``StorageDriver.blocking_reads``)."""

    def read(self, path: str) -> bytes | None:
        """The content of the file at ``path``, or None if there is none."""
        ...

    def size(self, path: str) -> int | None:
        """The size of the file at ``path``, or None if there is none."""
        ...


#: How much of a ``BlockingFiles.put`` survives a crash of the machine once it returns:
#: ``"full"`` the content at its path (as ``put_content``); ``"content"`` the content, but
#: the path may still hold what it held before (never partial or foreign bytes);
#: ``"none"`` nothing is promised (the path may be missing or empty after a crash).
#: A crash of the process alone never loses a put that returned.
Durability = Literal["full", "content", "none"]


class BlockingWriter(Protocol):
    """A ``FileWriter`` for use in one worker thread (see ``BlockingFiles.writer``)."""

    @property
    def size(self) -> int:
        """Bytes written so far, including those of earlier writers appended to."""
        ...

    def write(self, data: bytes) -> int:
        """Append ``data``; returns the number of bytes written."""
        ...

    def truncate(self, size: int) -> None:
        """Drop content after ``size`` bytes (``InvalidOffset`` beyond the content)."""
        ...

    def close(self) -> None:
        """Make what was written durable and release the writer, leaving it uncommitted."""
        ...

    def commit(self, destination: str | None = None) -> None:
        """Publish the content atomically and durably at ``destination`` (by default the
        writer's own path), replacing what was there, and release the writer."""
        ...

    def cancel(self) -> None:
        """Discard everything written, including by earlier writers, and release the writer."""
        ...


class BlockingFiles(BlockingReads, Protocol):
    """Blocking reads and writes (see ``StorageDriver.blocking_files``).

    Each method behaves as the driver method of the same name, except that absence is an
    answer (None, False) rather than ``PathNotFound``.
    """

    def names(self, path: str) -> builtins.list[str] | None:
        """The names of the direct children of folder ``path``, sorted; None if no folder.

        As with ``StorageDriver.list_names``, a child holding only content still being
        written may be reported.
        """
        ...

    def put(self, path: str, content: bytes, durability: Durability = "full") -> None:
        """Store ``content`` at ``path`` atomically, replacing what was there; as durably
        as ``durability`` says (by default as ``put_content``)."""
        ...

    def delete(self, path: str) -> bool:
        """Delete ``path`` and everything below it; False if there was nothing."""
        ...

    def writer(self, path: str, append: bool = False) -> BlockingWriter:
        """A writer for ``path`` (``StorageDriver.writer``; ``PathNotFound`` likewise)."""
        ...


class FileWriter(ABC):
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

    def blocking_list_names(
        self,
    ) -> Callable[[Sequence[str]], builtins.list[builtins.list[str] | None]] | None:
        """``list_names`` as a blocking function to call in a worker thread, or None.

        Drivers over local storage offer it so that a listing that reads many folders one
        after another (the catalog) runs whole in one thread hop instead of one per step.
        """
        return None

    def blocking_reads(self) -> BlockingReads | None:
        """Blocking reads of small committed files, to call in a worker thread, or None.

        Drivers over local storage offer it so that a request needing several tiny reads
        (a tag link, a revision link, a descriptor) makes them in one thread hop. The paths
        must come from the path mapper: they are not validated again.
        """
        return None

    def read_memo(self) -> ReadMemo | None:
        """Remembered answers of ``blocking_reads`` that stay true, or None.

        Drivers over local storage whose changes the kernel reports (see ``read_memo``)
        offer it, so that hot small reads skip the worker thread while nothing changed.
        """
        return None

    def blocking_files(self) -> BlockingFiles | None:
        """Blocking reads and writes of files, to call in a worker thread, or None.

        Drivers over local storage offer it so that a request made of several small
        steps (an upload chunk: read the session's state, append, sync, save the new
        state) takes one thread hop instead of one per step. Only the stores' own paths
        from the path mapper are passed; writes still check them.
        """
        return None

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
