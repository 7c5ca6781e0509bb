"""The whole app built as ``dockyard serve`` builds it, driven in-process through httpx."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from dockyard.assembly import Lifecycle
from dockyard.storage.registry import StorageRegistry

BASE_URL = "http://registry.test"


class UI:
    """The app under test, its registry services, and a way to open browsers (clients)."""

    def __init__(self, app: Lifecycle) -> None:
        self.app = app
        self.registry: StorageRegistry = app.assembly.registry
        self._clients: list[httpx.AsyncClient] = []

    def client(self, base_url: str = BASE_URL) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=base_url)
        self._clients.append(client)
        return client

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()


MakeUI = Callable[..., Awaitable[UI]]
