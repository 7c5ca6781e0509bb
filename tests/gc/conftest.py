"""Fixtures for online collection: a real driver whose moves and writes can be interleaved
with a collection step by step, and the registry over it."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parents[1]
for _folder in ("storage", "e2e"):
    if str(_TESTS / _folder) not in sys.path:
        sys.path.append(str(_TESTS / _folder))

from gc_helpers import InterleavingDriver  # noqa: E402

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
