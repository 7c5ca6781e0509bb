"""Per-app services: repositories are reused across requests, within a bound."""

from __future__ import annotations

from datetime import timedelta

import pytest
from api_helpers import SECRET

from dockyard.api import context
from dockyard.api.context import Services
from dockyard.api.settings import ApiSettings
from dockyard.api.upload_state import UploadStateCodec
from dockyard.storage.registry import StorageRegistry


def services(registry: StorageRegistry) -> Services:
    return Services(
        registry=registry,
        settings=ApiSettings(secret=SECRET),
        authorizer=None,
        codec=UploadStateCodec(SECRET, timedelta(days=1)),
    )


def test_repository_objects_are_reused(registry: StorageRegistry) -> None:
    app_services = services(registry)
    assert app_services.repository("a/b") is app_services.repository("a/b")


def test_repository_cache_is_bounded(
    registry: StorageRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(context, "_REPOSITORY_CACHE_SIZE", 2)
    app_services = services(registry)
    first = app_services.repository("one")
    app_services.repository("two")
    app_services.repository("three")
    assert app_services.repository("one") is not first
