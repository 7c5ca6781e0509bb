"""A storage driver that keeps everything in process memory, for tests and throwaway use."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

from dockyard.storage.driver.base import (
    FileInfo,
    FileWriter,
    InvalidOffset,
    PathNotFound,
    StorageDriver,
    validate_path,
)

_CHUNK = 1 << 20


class InMemoryDriver(StorageDriver):
    """Committed files and uncommitted writer content in two dictionaries."""

    name = "inmemory"

    def __init__(self) -> None:
        self._files: dict[str, tuple[bytes, datetime]] = {}
        self._pending: dict[str, bytearray] = {}

    # -- helpers ---------------------------------------------------------------------------

    def _children_prefix(self, path: str) -> str:
        return "/" if path == "/" else path + "/"

    def _is_dir(self, path: str) -> bool:
        prefix = self._children_prefix(path)
        return any(name.startswith(prefix) for name in self._files)

    # -- interface -------------------------------------------------------------------------

    async def get_content(self, path: str) -> bytes:
        validate_path(path)
        try:
            return self._files[path][0]
        except KeyError:
            raise PathNotFound(path) from None

    async def put_content(self, path: str, content: bytes) -> None:
        validate_path(path)
        self._files[path] = (bytes(content), datetime.now(UTC))

    async def reader(
        self, path: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        content = await self.get_content(path)
        if offset < 0 or offset > len(content):
            raise InvalidOffset(path, offset)
        end = len(content) if length is None else min(len(content), offset + max(length, 0))
        return _chunks(content, offset, end)

    async def writer(self, path: str, append: bool = False) -> FileWriter:
        validate_path(path)
        if append:
            if path not in self._pending:
                raise PathNotFound(path)
        else:
            self._pending[path] = bytearray()
        return _InMemoryWriter(self, path)

    async def stat(self, path: str) -> FileInfo:
        validate_path(path, allow_root=True)
        if path in self._files:
            content, mod_time = self._files[path]
            return FileInfo(path, len(content), mod_time, is_dir=False)
        if path == "/" or self._is_dir(path):
            return FileInfo(path, 0, datetime.now(UTC), is_dir=True)
        raise PathNotFound(path)

    async def list(self, path: str) -> list[str]:
        validate_path(path, allow_root=True)
        prefix = self._children_prefix(path)
        children = {
            prefix + name[len(prefix) :].split("/", 1)[0]
            for name in self._files
            if name.startswith(prefix)
        }
        if not children and path != "/":
            raise PathNotFound(path)
        return sorted(children)

    async def move(self, source: str, destination: str) -> None:
        validate_path(source)
        validate_path(destination)
        try:
            entry = self._files.pop(source)
        except KeyError:
            raise PathNotFound(source) from None
        self._files[destination] = entry

    async def delete(self, path: str) -> None:
        validate_path(path, allow_root=True)
        prefix = self._children_prefix(path)
        doomed = [name for name in self._files if name == path or name.startswith(prefix)]
        pending = [name for name in self._pending if name == path or name.startswith(prefix)]
        if not doomed and not pending:
            raise PathNotFound(path)
        for name in doomed:
            del self._files[name]
        for name in pending:
            del self._pending[name]

    async def delete_many(self, paths: Sequence[str]) -> None:
        for path in paths:
            validate_path(path)
        for path in paths:
            self._files.pop(path, None)


async def _chunks(content: bytes, start: int, end: int) -> AsyncIterator[bytes]:
    view = memoryview(content)
    for position in range(start, end, _CHUNK):
        yield bytes(view[position : min(end, position + _CHUNK)])


class _InMemoryWriter(FileWriter):
    def __init__(self, driver: InMemoryDriver, path: str) -> None:
        self._driver = driver
        self._path = path
        self._closed = False

    def _buffer(self) -> bytearray:
        if self._closed:
            raise ValueError("writer is closed")
        try:
            return self._driver._pending[self._path]
        except KeyError:
            raise PathNotFound(self._path) from None

    @property
    def size(self) -> int:
        return len(self._driver._pending.get(self._path, b""))

    async def write(self, data: bytes) -> int:
        self._buffer().extend(data)
        return len(data)

    async def truncate(self, size: int) -> None:
        buffer = self._buffer()
        if size < 0 or size > len(buffer):
            raise InvalidOffset(self._path, size)
        del buffer[size:]

    async def close(self) -> None:
        self._closed = True

    async def commit(self) -> None:
        content = self._buffer()
        del self._driver._pending[self._path]
        self._driver._files[self._path] = (bytes(content), datetime.now(UTC))
        self._closed = True

    async def cancel(self) -> None:
        self._driver._pending.pop(self._path, None)
        self._closed = True
