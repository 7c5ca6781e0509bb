"""Fixtures of the hostile-input tests: the registry in-process, and as a real process.

Each module attacks one class of flaw from issue 11; the helpers of the API, auth and
end-to-end tests are shared, not copied.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

_TESTS = Path(__file__).resolve().parent.parent
for _folder in ("api", "auth", "e2e"):
    if str(_TESTS / _folder) not in sys.path:
        sys.path.append(str(_TESTS / _folder))

from api_helpers import SECRET  # noqa: E402
from e2e_processes import ServerProcess, dockyard_config, dockyard_process  # noqa: E402

from dockyard.api.app import create_app  # noqa: E402
from dockyard.api.settings import ApiSettings  # noqa: E402
from dockyard.auth.base import Authorizer  # noqa: E402
from dockyard.storage.driver.inmemory import InMemoryDriver  # noqa: E402
from dockyard.storage.registry import StorageRegistry  # noqa: E402

BASE_URL = "http://registry.test"

ClientFactory = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def hostile_client() -> AsyncIterator[ClientFactory]:
    """Build an in-process client of the real app: ``(authorizer=None, **settings)``."""
    opened: list[httpx.AsyncClient] = []

    def build(authorizer: Authorizer | None = None, **changes: Any) -> httpx.AsyncClient:
        settings = dataclasses.replace(ApiSettings(secret=SECRET), **changes)
        app = create_app(StorageRegistry(InMemoryDriver()), settings, authorizer)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)
        opened.append(client)
        return client

    yield build
    for client in opened:
        await client.aclose()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real ``dockyard serve`` (granian) on a free loopback port, for the module."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    workdir = tmp_path_factory.mktemp("served")
    server = dockyard_process(workdir, port, dockyard_config(workdir / "root", port))
    server.start()
    try:
        yield server
    finally:
        server.stop()
