"""Fixtures for the HTTP API: the app over real stores, driven in-process through httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from api_helpers import SECRET
from starlette.applications import Starlette

from dockyard.api.app import create_app
from dockyard.api.settings import ApiSettings
from dockyard.auth.base import Authorizer
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.driver.inmemory import InMemoryDriver
from dockyard.storage.registry import StorageRegistry

BASE_URL = "http://registry.test"

ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture(params=["inmemory", "filesystem"])
async def registry(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StorageRegistry]:
    """The registry services over an empty in-memory driver, then over an empty
    filesystem driver (the production path: blobs sent from files, local reads)."""
    if request.param == "inmemory":
        yield StorageRegistry(InMemoryDriver())
        return
    driver = FilesystemDriver(tmp_path / "registry-root")
    try:
        yield StorageRegistry(driver)
    finally:
        await driver.close()


@pytest.fixture
def settings() -> ApiSettings:
    return ApiSettings(secret=SECRET)


@pytest.fixture
def app(registry: StorageRegistry, settings: ApiSettings) -> Starlette:
    return create_app(registry, settings)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to the app in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http


@pytest.fixture
async def make_client(
    registry: StorageRegistry,
) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """Build a client for an app with other settings (or an authorizer) on the same stores."""
    opened: list[httpx.AsyncClient] = []

    def build(
        authorizer: Authorizer | None = None,
        registry_: StorageRegistry | None = None,
        **changes: object,
    ) -> httpx.AsyncClient:
        settings = ApiSettings(**{"secret": SECRET, **changes})  # type: ignore[arg-type]
        app = create_app(registry_ or registry, settings, authorizer)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)
        opened.append(http)
        return http

    yield build
    for http in opened:
        await http.aclose()


@pytest.fixture
async def fs_registry(tmp_path: Path) -> AsyncIterator[StorageRegistry]:
    """The registry services over a filesystem driver (blobs are served from files)."""
    driver = FilesystemDriver(tmp_path / "root")
    try:
        yield StorageRegistry(driver)
    finally:
        await driver.close()
