"""Run the shared storage driver suite against every driver.

Every test that asks for ``driver`` (or ``driver_factory``) runs once per name in
``DRIVER_NAMES``. To add a driver, write a factory and register it, e.g. for S3::

    DRIVER_NAMES.append("s3")
    FACTORIES["s3"] = _s3  # an @asynccontextmanager (request, tmp_path) -> S3Driver

A factory is an async context manager ``(request, tmp_path) -> StorageDriver`` that
yields a driver on an empty backend of its own for the test (a fresh root, bucket or
prefix; it may take shared servers from session fixtures through
``request.getfixturevalue``) and releases it on exit. Calling it again with the same
``request`` and ``tmp_path`` must yield an independent driver instance on the SAME
backend: that is how ``driver_factory`` opens a second instance to test resuming an
upload from somewhere else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest
from s3_server import s3_driver_factory

from dockyard.storage.driver.base import StorageDriver
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.driver.inmemory import InMemoryDriver

DriverFactory = Callable[[pytest.FixtureRequest, Path], AbstractAsyncContextManager[StorageDriver]]
OpenDriver = Callable[[], Awaitable[StorageDriver]]

_INMEMORY = pytest.StashKey[InMemoryDriver]()


@asynccontextmanager
async def _inmemory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StorageDriver]:
    # One process holds one in-memory backend: a "second instance" is the same object.
    yield request.node.stash.setdefault(_INMEMORY, InMemoryDriver())


@asynccontextmanager
async def _filesystem(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StorageDriver]:
    driver = FilesystemDriver(tmp_path / "root")
    try:
        yield driver
    finally:
        await driver.close()


DRIVER_NAMES: list[str] = ["inmemory", "filesystem"]
FACTORIES: dict[str, DriverFactory] = {"inmemory": _inmemory, "filesystem": _filesystem}
DRIVER_NAMES.append("s3")
FACTORIES["s3"] = s3_driver_factory


@pytest.fixture(params=DRIVER_NAMES)
def driver_name(request: pytest.FixtureRequest) -> str:
    """The name of the driver under test."""
    name: str = request.param
    return name


@pytest.fixture
async def driver_factory(
    request: pytest.FixtureRequest, driver_name: str, tmp_path: Path
) -> AsyncIterator[OpenDriver]:
    """Opens driver instances that share one backend; all are released after the test."""
    async with AsyncExitStack() as stack:

        async def open_driver() -> StorageDriver:
            factory = FACTORIES[driver_name](request, tmp_path)
            return await stack.enter_async_context(factory)

        yield open_driver


@pytest.fixture
async def driver(driver_factory: OpenDriver) -> StorageDriver:
    """A driver on an empty backend."""
    return await driver_factory()
