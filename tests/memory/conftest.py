"""Fixtures of the memory tests: ``dockyard serve`` as a real process on free ports."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_TESTS = Path(__file__).resolve().parent.parent
for _helpers in ("e2e", "ops"):
    if str(_TESTS / _helpers) not in sys.path:
        sys.path.append(str(_TESTS / _helpers))

from e2e_processes import ServerProcess, dockyard_config, dockyard_process  # noqa: E402

#: ``start(debug)`` → a started ``dockyard serve`` with ``http.debug`` set to ``debug``.
StartServer = Callable[[dict[str, Any]], ServerProcess]


@pytest.fixture
def start_server(tmp_path: Path, free_port: Callable[[], int]) -> Iterator[StartServer]:
    """Starts ``dockyard serve`` on ``tmp_path/root`` with the given ``http.debug``
    section; every server started is stopped after the test."""
    started: list[ServerProcess] = []

    def start(debug: dict[str, Any]) -> ServerProcess:
        port = free_port()
        config = dockyard_config(tmp_path / "root", port)
        config["http"]["debug"] = debug
        env = {"REGISTRY_HTTP_SECRET": secrets.token_hex(16)}
        process = dockyard_process(tmp_path, port, config, env=env, name=f"d{len(started)}")
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()
