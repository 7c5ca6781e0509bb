"""Fixtures of the operations tests: ``dockyard serve`` with its debug listener and
notification endpoints, and webhook receivers, all as real processes on free ports."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# The real-process helpers of the end-to-end tests and the Redis server of the cache
# tests are shared, not copied.
_TESTS = Path(__file__).resolve().parent.parent
for _folder in ("e2e", "cache"):
    if str(_TESTS / _folder) not in sys.path:
        sys.path.append(str(_TESTS / _folder))

from e2e_processes import dockyard_config, dockyard_process  # noqa: E402
from ops_helpers import Dockyard, Sink, StartDockyard  # noqa: E402
from redis_server import redis_binary, redis_server, start_redis  # noqa: E402

__all__ = ["redis_server"]


@pytest.fixture
def start_dockyard(tmp_path: Path, free_port: Callable[[], int]) -> Iterator[StartDockyard]:
    """``start(extra_config, workers=1, env=None, …)`` → a started ``dockyard serve`` on
    ``tmp_path/root`` with its debug listener (and metrics) on a free port; sections of
    ``extra_config`` are merged into the defaults. All are stopped after the test."""
    started: list[Dockyard] = []

    def start(
        extra: dict[str, Any] | None = None,
        *,
        workers: int = 1,
        env: dict[str, str] | None = None,
        name: str | None = None,
        port: int | None = None,
        debug_port: int | None = None,
        root: Path | None = None,
    ) -> Dockyard:
        port = port or free_port()
        debug_port = debug_port or free_port()
        config = dockyard_config(root or tmp_path / "root", port, workers=workers)
        config["http"]["debug"] = {
            "addr": f"127.0.0.1:{debug_port}",
            "prometheus": {"enabled": True, "path": "/metrics"},
        }
        for key, value in (extra or {}).items():
            if isinstance(value, dict) and isinstance(config.get(key), dict):
                config[key].update(value)
            else:
                config[key] = value
        environment = {"REGISTRY_HTTP_SECRET": secrets.token_hex(16), **(env or {})}
        process = dockyard_process(
            tmp_path, port, config, env=environment, name=name or f"dockyard-{len(started)}"
        )
        server = Dockyard(process, f"http://127.0.0.1:{debug_port}")
        started.append(server)
        process.start()
        return server

    yield start
    for server in started:
        server.process.stop()


@pytest.fixture
def sink(tmp_path: Path, free_port: Callable[[], int]) -> Iterator[Sink]:
    """A webhook receiver on a free port, not started yet."""
    receiver = Sink(free_port(), tmp_path / f"sink-{secrets.token_hex(4)}.jsonl")
    yield receiver
    receiver.stop()


@pytest.fixture(params=["disk", "redis"])
def queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Configuration for each kind of event queue: ``{}`` (on disk), or a real Redis
    (``{"redis": {"addr": …}}``), which puts the queue in Redis streams."""
    if request.param == "disk":
        yield {}
        return
    if redis_binary() is None:
        pytest.fail("redis-server (Debian package) is missing", pytrace=False)
    with start_redis(tmp_path / "redis") as server:
        yield {"redis": {"addr": server.addr}}
