"""Fixtures of the end-to-end tests: real ``dockyard serve`` and ``docker-registry``
processes on free loopback ports, and image layouts built on disk."""

from __future__ import annotations

import secrets
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_images import OciLayout
from e2e_processes import (
    DOCKER_REGISTRY,
    ServerProcess,
    StartDockyard,
    StartReference,
    dockyard_config,
    dockyard_process,
    have,
    reference_process,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def start_dockyard(tmp_path: Path, free_port: Callable[[], int]) -> Iterator[StartDockyard]:
    """Start ``dockyard serve`` processes; every one is stopped after the test.

    ``start(root=…, workers=…, config=…, config_http=…, config_storage=…, env=…,
    tls=…, port=…)``: the filesystem root defaults to ``tmp_path/root``; ``config`` entries
    replace the defaults' top-level sections, ``config_http``/``config_storage`` entries
    are merged into those sections; ``tls`` is the client context for an HTTPS server.
    """
    started: list[ServerProcess] = []

    def start(
        root: Path | None = None,
        *,
        workers: int = 1,
        config: dict[str, Any] | None = None,
        config_http: dict[str, Any] | None = None,
        config_storage: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        name: str | None = None,
        tls: ssl.SSLContext | None = None,
        port: int | None = None,
    ) -> ServerProcess:
        port = port or free_port()
        full = dockyard_config(root or tmp_path / "root", port, workers=workers)
        full.update(config or {})
        full["http"].update(config_http or {})
        full["storage"].update(config_storage or {})
        environment = {"REGISTRY_HTTP_SECRET": secrets.token_hex(16), **(env or {})}
        process = dockyard_process(
            tmp_path,
            port,
            full,
            env=environment,
            name=name or f"dockyard-{len(started)}",
            tls=tls,
        )
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def dockyard(start_dockyard: StartDockyard) -> ServerProcess:
    """One ``dockyard serve`` on filesystem storage in the test's tmp_path."""
    return start_dockyard()


@pytest.fixture
def start_reference(tmp_path: Path, free_port: Callable[[], int]) -> Iterator[StartReference]:
    """Start the reference registry on a storage root; stopped after the test."""
    if not have(DOCKER_REGISTRY):
        pytest.fail(
            "docker-registry (Debian package) is missing",
            pytrace=False,
        )
    started: list[ServerProcess] = []

    def start(root: Path) -> ServerProcess:
        process = reference_process(tmp_path, free_port(), root)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def layout(tmp_path: Path) -> OciLayout:
    """An empty OCI image layout to build source images in."""
    return OciLayout(tmp_path / "source")


@pytest.fixture(autouse=True)
def _need_skopeo() -> None:
    if not have("skopeo"):
        pytest.fail(
            "skopeo (Debian package) is missing",
            pytrace=False,
        )
