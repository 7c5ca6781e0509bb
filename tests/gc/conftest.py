"""Fixtures for online collection: a real driver whose moves and writes can be interleaved
with a collection step by step, and the registry over it."""

from __future__ import annotations

import secrets
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_TESTS = Path(__file__).resolve().parents[1]
for _folder in ("storage", "e2e", "cache"):
    if str(_TESTS / _folder) not in sys.path:
        sys.path.append(str(_TESTS / _folder))

from e2e_processes import ServerProcess, dockyard_config, dockyard_process  # noqa: E402
from gc_helpers import InterleavingDriver, StartServer  # noqa: E402

from dockyard.storage.driver.filesystem import FilesystemDriver  # noqa: E402
from dockyard.storage.driver.inmemory import InMemoryDriver  # noqa: E402
from dockyard.storage.registry import StorageRegistry  # noqa: E402


@pytest.fixture(params=["filesystem", "inmemory"])
async def driver(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[InterleavingDriver]:
    """A real driver (filesystem: its local fast paths; inmemory: the generic ones)."""
    inner = (
        FilesystemDriver(tmp_path / "root") if request.param == "filesystem" else InMemoryDriver()
    )
    try:
        yield InterleavingDriver(inner)
    finally:
        await inner.close()


@pytest.fixture
def registry(driver: InterleavingDriver) -> StorageRegistry:
    return StorageRegistry(driver)


@pytest.fixture
def start_server(tmp_path: Path, free_port: Callable[[], int]) -> Iterator[StartServer]:
    """Start ``dockyard serve`` on ``root`` with ``storage`` merged into its storage section;
    every server is stopped after the test. Its configuration is ``tmp_path/<name>.yml``."""
    started: list[ServerProcess] = []

    def start(
        root: Path, *, name: str, storage: dict[str, Any], config: dict[str, Any] | None = None
    ) -> ServerProcess:
        port = free_port()
        full = dockyard_config(root, port)
        full["storage"].update(storage)
        full.update(config or {})
        environment = {"REGISTRY_HTTP_SECRET": secrets.token_hex(16)}
        process = dockyard_process(tmp_path, port, full, env=environment, name=name)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()
