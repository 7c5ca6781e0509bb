"""The soak: 16 clients push, pull, delete and mount while the server collects every 2 s.

CI runs at least 30 seconds on filesystem storage, and on until two collections finished
during the traffic (one of them sweeping) and the clients pushed, deleted and mounted
enough; both full two-minute soaks (this one and the
SeaweedFS + Redis + nginx one) are one command:
``DOCKYARD_SOAK_SECONDS=120 .venv/bin/pytest tests/gc/test_soak.py tests/scaleout -k soak``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from e2e_processes import clean_environment
from gc_helpers import StartServer
from soak_client import CollectionsDuringTraffic, pull_all, soak

pytestmark = pytest.mark.e2e

SECONDS = float(os.environ.get("DOCKYARD_SOAK_SECONDS", "30"))
GC = {"enabled": True, "interval": "2s", "grace": "5s", "deleteuntagged": True}


def blobs_on_disk(root: Path) -> set[str]:
    """Every blob whose data is stored (condemned leftovers would show as missing data)."""
    folder = root / "docker/registry/v2/blobs/sha256"
    return {f"sha256:{path.parent.name}" for path in folder.glob("*/*/data")}


def final_collection(workdir: Path, config: Path) -> str:
    """``dockyard gc`` with no traffic, retried while the server's own collector runs."""
    deadline = time.monotonic() + 60
    while True:
        result = subprocess.run(
            [sys.executable, "-m", "dockyard.cli", "gc", str(config), "--grace", "0s"],
            cwd=workdir,
            env=clean_environment(),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if result.returncode == 0:
            return result.stdout
        assert "another collection is running" in result.stderr, result.stderr
        assert time.monotonic() < deadline, "the server's collector never let go of the lease"
        time.sleep(0.5)


def test_soak_pushes_never_lose_blobs_and_only_the_reachable_set_remains(
    tmp_path: Path, start_server: StartServer
) -> None:
    root = tmp_path / "root"
    server = start_server(root, name="soak", storage={"maintenance": {"gc": GC}})
    goal = CollectionsDuringTraffic(server.stderr, collections=2, pushes=100, deletes=20, mounts=1)
    report = asyncio.run(soak(server.url, SECONDS, goal))

    assert report.push_errors == []

    asyncio.run(pull_all(server.url, report))
    assert report.pull_errors == []

    final_collection(tmp_path, tmp_path / "soak.yml")
    assert blobs_on_disk(root) == report.reachable()
    asyncio.run(pull_all(server.url, report))
    assert report.pull_errors == []
