"""Fixtures for the registry services: each test runs on the in-memory and filesystem
drivers; the upload and ordering modules also on S3 (``storage_helpers.ALL_DRIVERS``)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from s3_server import s3_driver_factory
from storage_helpers import DRIVERS

from dockyard.storage.driver.base import StorageDriver
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.driver.inmemory import InMemoryDriver
from dockyard.storage.registry import StorageRegistry, StorageRepository

REPOSITORY = "library/app"
REFERENCE = shutil.which("docker-registry") or "/usr/bin/docker-registry"


@pytest.fixture(params=DRIVERS)
async def driver(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StorageDriver]:
    """A storage driver on an empty backend of its own."""
    if request.param == "inmemory":
        yield InMemoryDriver()
        return
    if request.param == "s3":
        async with s3_driver_factory(request, tmp_path) as s3:
            yield s3
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


@pytest.fixture
def reference(tmp_path: Path, free_port: Callable[[], int]) -> Iterator[tuple[str, Path]]:
    """The reference registry serving a filesystem root: (base URL, root)."""
    if not Path(REFERENCE).exists():
        pytest.fail(
            "the reference registry is missing",
            pytrace=False,
        )
    port = free_port()
    root = tmp_path / "shared-root"
    config = tmp_path / "config.yml"
    config.write_text(
        json.dumps(
            {
                "version": 0.1,
                "log": {"level": "error"},
                "storage": {
                    "filesystem": {"rootdirectory": str(root)},
                    "delete": {"enabled": True},
                },
                "http": {"addr": f"127.0.0.1:{port}"},
            }
        )
    )
    process = subprocess.Popen(
        [REFERENCE, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/v2/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("the reference registry did not start")
            time.sleep(0.05)
        yield base, root
    finally:
        process.terminate()
        process.wait(timeout=10)
