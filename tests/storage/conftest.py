"""Fixtures for the registry services: each test runs on every storage driver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dockyard.storage.driver.base import StorageDriver
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.driver.inmemory import InMemoryDriver
from dockyard.storage.registry import StorageRegistry, StorageRepository

REPOSITORY = "library/app"


@pytest.fixture(params=["inmemory", "filesystem"])
async def driver(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StorageDriver]:
    """A storage driver on an empty backend of its own."""
    if request.param == "inmemory":
        yield InMemoryDriver()
        return
    fs = FilesystemDriver(tmp_path / "root")
    try:
        yield fs
    finally:
        await fs.close()


@pytest.fixture
def registry(driver: StorageDriver) -> StorageRegistry:
    return StorageRegistry(driver)


@pytest.fixture
def repo(registry: StorageRegistry) -> StorageRepository:
    return registry.repository(REPOSITORY)
