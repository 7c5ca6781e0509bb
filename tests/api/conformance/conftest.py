"""The conformance workflows run on every storage driver, through a client that follows
redirects as the suite's Go client does (S3 answers blob GETs with a presigned URL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from s3_server import s3_driver_factory
from starlette.applications import Starlette

from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.driver.inmemory import InMemoryDriver
from dockyard.storage.registry import StorageRegistry

BASE_URL = "http://registry.test"


@pytest.fixture(params=["inmemory", "filesystem", "s3"])
async def registry(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StorageRegistry]:
    """The registry services over each storage driver in turn (S3: the session's SeaweedFS)."""
    if request.param == "inmemory":
        yield StorageRegistry(InMemoryDriver())
    elif request.param == "filesystem":
        driver = FilesystemDriver(tmp_path / "root")
        yield StorageRegistry(driver)
        await driver.close()
    else:
        async with s3_driver_factory(request, tmp_path) as s3:
            yield StorageRegistry(s3)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process; anything else (a presigned object-store URL) over the network."""
    mounts = {BASE_URL: httpx.ASGITransport(app=app), "all://": httpx.AsyncHTTPTransport()}
    async with httpx.AsyncClient(mounts=mounts, base_url=BASE_URL, follow_redirects=True) as http:
        yield http
