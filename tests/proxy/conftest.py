"""Fixtures of the pull-through cache tests: a real upstream registry process (the
reference's ``docker-registry``, with its access log on, so tests count the requests it
served) and ``dockyard serve`` mirrors of it."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from proxy_processes import (
    DOCKER_REGISTRY,
    OciLayout,
    ServerProcess,
    StartMirror,
    StartUpstream,
    Upstream,
    dockyard_config,
    dockyard_process,
    have,
    upstream_process,
)
from redis_server import redis_server

# A real Redis for the tests of leases across instances.
__all__ = ["redis_server"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def start_upstream(tmp_path: Path, free_port: Callable[[], int]) -> Iterator[StartUpstream]:
    """Start a ``docker-registry`` upstream: ``start(users={name: password}, port=…)``.

    With ``users`` it requires HTTP Basic; restarted on the same root and port by
    calling ``start`` again with ``port`` and ``name``.
    """
    if not have(DOCKER_REGISTRY):
        pytest.fail("docker-registry (Debian package) is missing", pytrace=False)
    started: list[Upstream] = []

    def start(
        *, users: dict[str, str] | None = None, port: int | None = None, name: str = "upstream"
    ) -> Upstream:
        process = upstream_process(tmp_path, port or free_port(), name=name, users=users)
        started.append(process)
        return process.start()  # type: ignore[return-value]

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def start_mirror(tmp_path: Path, free_port: Callable[[], int]) -> Iterator[StartMirror]:
    """Start ``dockyard serve`` with ``proxy`` as its proxy section:
    ``start(proxy, workers=1, config={…})``."""
    started: list[ServerProcess] = []

    def start(
        proxy: dict[str, Any],
        *,
        workers: int = 1,
        config: dict[str, Any] | None = None,
        port: int | None = None,
        name: str = "mirror",
        root: Path | None = None,
    ) -> ServerProcess:
        port = port or free_port()
        full = dockyard_config(root or tmp_path / f"{name}-root", port, workers=workers)
        full["proxy"] = proxy
        full.update(config or {})
        env = {"REGISTRY_HTTP_SECRET": secrets.token_hex(16)}
        process = dockyard_process(tmp_path, port, full, env=env, name=name)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def layout(tmp_path: Path) -> OciLayout:
    """An empty OCI image layout to build source images in."""
    return OciLayout(tmp_path / "source")
