"""Fixtures for the access-control tests: the real API app with an authorizer."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from dockyard.api.app import create_app
from dockyard.api.settings import ApiSettings
from dockyard.auth.base import Authorizer
from dockyard.storage.driver.inmemory import InMemoryDriver
from dockyard.storage.registry import StorageRegistry

BASE_URL = "http://registry.test"


@pytest.fixture
async def app_client() -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """Build an in-process client for the registry app behind an authorizer."""
    opened: list[httpx.AsyncClient] = []

    def build(authorizer: Authorizer | None, **settings_changes: Any) -> httpx.AsyncClient:
        settings = dataclasses.replace(ApiSettings(secret=b"auth-tests"), **settings_changes)
        app = create_app(StorageRegistry(InMemoryDriver()), settings, authorizer)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)
        opened.append(client)
        return client

    yield build
    for client in opened:
        await client.aclose()
