"""Fixtures of the web interface tests: the whole app in-process (httpx), over the
in-memory driver, with the auth schemes the interface signs users in with."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest

from dockyard.config import from_dict
from dockyard.server import Lifecycle, build_app
from dockyard.storage.registry import StorageRegistry

BASE_URL = "http://registry.test"
PASSWORDS = {"alice": "alice-secret", "bob": "bob-secret"}


def write_htpasswd(path: Path, users: dict[str, str]) -> Path:
    lines = [
        f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()}"
        for user, password in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def token_server_auth(htpasswd: Path) -> dict[str, Any]:
    """Token auth with the built-in server: alice may delete in ``team/*``, bob only pull,
    anyone may pull ``public/*``, alice alone gets the catalog."""
    return {
        "token": {
            "realm": "http://registry.test/auth/token",
            "service": "registry.test",
            "issuer": "dockyard",
        },
        "tokenserver": {
            "htpasswd": str(htpasswd),
            "rules": [
                {
                    "repositories": "public/*",
                    "users": ["*"],
                    "anonymous": True,
                    "actions": ["pull"],
                },
                {"repositories": "team/**", "users": ["alice"], "actions": ["*"]},
                {"repositories": "team/**", "users": ["bob"], "actions": ["pull"]},
                {"registry": "catalog", "users": ["alice"], "actions": ["*"]},
            ],
        },
    }


class UI:
    """The app under test, its registry services, and a way to open browsers (clients)."""

    def __init__(self, app: Lifecycle) -> None:
        self.app = app
        self.registry: StorageRegistry = app.registry
        self._clients: list[httpx.AsyncClient] = []

    def client(self, base_url: str = BASE_URL) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=base_url)
        self._clients.append(client)
        return client

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()


MakeUI = Callable[..., Awaitable[UI]]


@pytest.fixture
async def make_ui(tmp_path: Path) -> AsyncIterator[MakeUI]:
    """``await make_ui(auth=…, ui=…, storage=…)``: the whole app built as ``serve`` does."""
    built: list[UI] = []

    async def make(
        auth: dict[str, Any] | None = None,
        ui: dict[str, Any] | None = None,
        delete: bool = True,
        http: dict[str, Any] | None = None,
    ) -> UI:
        tree: dict[str, Any] = {
            "version": 0.1,
            "storage": {"inmemory": {}, "delete": {"enabled": delete}},
            "http": {"secret": "ui-test-secret", **(http or {})},
        }
        if auth is not None:
            tree["auth"] = auth
        if ui is not None:
            tree["ui"] = ui
        app = build_app(from_dict(tree, {}, cwd=tmp_path))
        assert isinstance(app, Lifecycle)
        made = UI(app)
        built.append(made)
        return made

    yield make
    for made in built:
        await made.close()


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    return write_htpasswd(tmp_path / "htpasswd", PASSWORDS)
