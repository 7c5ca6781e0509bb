"""A driver that dies like a killed process: before its n-th change to storage.

``CrashingDriver(inner, crash_at=n)`` passes every call to a real driver and counts the
calls that change storage (puts, writes, closes, commits, moves, deletes); plans run
step by step through them (the generic ``StorageDriver.run``). The n-th such call, and every call
after it, raises ``Crashed`` without touching storage: what the backend holds then is
what a ``kill -9`` at that moment leaves, since a killed process runs no clean-up either.
Bytes a writer buffered in memory are lost with it, as they would be.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar

from dockyard.storage.driver.base import (
    FileInfo,
    FileWriter,
    OpenFile,
    StorageDriver,
)

_T = TypeVar("_T")


class Crashed(BaseException):
    """The simulated process died (a BaseException: nothing may catch it as an error)."""


class CrashingDriver(StorageDriver):
    """A real driver whose process "dies" before its ``crash_at``-th change."""

    def __init__(self, inner: StorageDriver, crash_at: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.crash_at = crash_at
        self.changes = 0

    @property
    def crashed(self) -> bool:
        return self.changes >= self.crash_at

    def step(self) -> None:
        """Count one change; die instead of making it once the count is reached."""
        if self.crashed:
            raise Crashed()
        self.changes += 1

    def alive(self) -> None:
        """Reads after the crash fail too: a dead process reads nothing."""
        if self.crashed:
            raise Crashed()

    async def get_content(self, path: str) -> bytes:
        self.alive()
        return await self.inner.get_content(path)

    async def put_content(self, path: str, content: bytes) -> None:
        self.step()
        await self.inner.put_content(path, content)

    async def reader(
        self, path: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        self.alive()
        return await self.inner.reader(path, offset, length)

    async def writer(self, path: str, append: bool = False) -> FileWriter:
        self.step()
        return _CrashingWriter(self, await self.inner.writer(path, append))

    async def stat(self, path: str) -> FileInfo:
        self.alive()
        return await self.inner.stat(path)

    async def list(self, path: str) -> list[str]:
        self.alive()
        return await self.inner.list(path)

    async def move(self, source: str, destination: str) -> None:
        self.step()
        await self.inner.move(source, destination)

    async def delete(self, path: str) -> None:
        self.step()
        await self.inner.delete(path)

    def open_file(self, path: str) -> OpenFile | None:
        return self.inner.open_file(path)


class _CrashingWriter(FileWriter):
    def __init__(self, driver: CrashingDriver, inner: FileWriter) -> None:
        self._driver = driver
        self._inner = inner

    @property
    def size(self) -> int:
        return self._inner.size

    async def write(self, data: bytes) -> int:
        self._driver.step()
        return await self._inner.write(data)

    async def truncate(self, size: int) -> None:
        self._driver.step()
        await self._inner.truncate(size)

    async def close(self) -> None:
        self._driver.step()
        await self._inner.close()

    async def commit(self) -> None:
        self._driver.step()
        await self._inner.commit()

    async def cancel(self) -> None:
        self._driver.step()
        await self._inner.cancel()
