"""Helpers for the collection tests: a driver whose steps can be interleaved."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from e2e_processes import ServerProcess
from storage_helpers import RecordingDriver

from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.driver.inmemory import InMemoryDriver

Step = Callable[[], Awaitable[None]]


class InterleavingDriver(RecordingDriver):
    """A real driver that runs a step once, right before or after a matching move or put.

    This is how a writer's request is slotted between two steps of a collection (or the
    reverse) deterministically; the storage underneath is real.
    """

    def __init__(self, inner: FilesystemDriver | InMemoryDriver) -> None:
        super().__init__(inner)
        self._steps: list[tuple[str, str, Callable[[str], bool], Step]] = []

    def at(self, when: str, kind: str, matches: Callable[[str], bool], step: Step) -> None:
        """Run ``step`` once, ``when`` ("before"/"after") a ``kind`` ("move"/"put") whose
        destination ``matches``, or before a batch ``delete`` naming a matching path."""
        self._steps.append((when, kind, matches, step))

    async def _run(self, when: str, kind: str, path: str) -> None:
        for entry in list(self._steps):
            if entry[0] == when and entry[1] == kind and entry[2](path):
                self._steps.remove(entry)
                await entry[3]()

    async def move(self, source: str, destination: str) -> None:
        await self._run("before", "move", destination)
        await super().move(source, destination)
        await self._run("after", "move", destination)

    async def put_content(self, path: str, content: bytes) -> None:
        await self._run("before", "put", path)
        await super().put_content(path, content)
        await self._run("after", "put", path)

    async def delete_many(self, paths: Sequence[str]) -> None:
        for path in paths:
            await self._run("before", "delete", path)
        await self.inner.delete_many(paths)


#: ``start_server(root, name=…, storage={…}, config={…})``: a started ``dockyard serve``.
StartServer = Callable[..., ServerProcess]
