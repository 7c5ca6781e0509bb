"""The collection soak on SeaweedFS + Redis with two instances behind nginx, both
configured to collect every 2 s (the lease lets one at a time).

CI runs at least 15 seconds, and on until two collections finished during the traffic
(one of them sweeping): on a loaded machine one collection on shared S3 can take most of
15 s. Both full two-minute soaks are one command (docs/collection.md):
``DOCKYARD_SOAK_SECONDS=120 .venv/bin/pytest tests/gc/test_soak.py tests/scaleout -k soak``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from e2e_processes import clean_environment
from scaleout_cluster import Cluster
from scaleout_nginx import Balancer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gc"))

from soak_client import CollectionsDuringTraffic, pull_all, soak

from dockyard.storage import paths
from dockyard.storage.driver.s3 import S3Driver

SECONDS = min(float(os.environ.get("DOCKYARD_SOAK_SECONDS", "15")), 120.0)
GC_ENV = {
    "REGISTRY_STORAGE_MAINTENANCE_GC_ENABLED": "true",
    "REGISTRY_STORAGE_MAINTENANCE_GC_INTERVAL": "2s",
    "REGISTRY_STORAGE_MAINTENANCE_GC_GRACE": "5s",
    "REGISTRY_STORAGE_MAINTENANCE_GC_DELETEUNTAGGED": "true",
}


async def blobs_in_bucket(cluster: Cluster) -> set[str]:
    driver = S3Driver(cluster.seaweedfs.params(cluster.rootdirectory))
    found: set[str] = set()
    try:
        async for info in driver.walk(paths.BLOBS):
            digest = paths.blob_digest_from_data_path(info.path)
            if digest is not None and not info.is_dir:
                found.add(str(digest))
    finally:
        await driver.close()
    return found


def final_collection(tmp_path: Path, cluster: Cluster) -> None:
    """``dockyard gc`` on the shared storage with no traffic (after the instances' rounds)."""
    config = tmp_path / "dockyard-0.yml"
    deadline = time.monotonic() + 60
    while True:
        result = subprocess.run(
            [sys.executable, "-m", "dockyard.cli", "gc", str(config), "--grace", "0s"],
            cwd=tmp_path,
            env=clean_environment(**cluster.env(**GC_ENV)),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if result.returncode == 0:
            return
        assert "another collection is running" in result.stderr, result.stderr
        assert time.monotonic() < deadline
        time.sleep(0.5)


def test_soak_behind_a_balancer_on_shared_s3_loses_nothing_and_leaves_the_reachable_set(
    tmp_path: Path, cluster: Cluster
) -> None:
    from scaleout_nginx import nginx_binary

    assert nginx_binary() is not None, "nginx (Debian package nginx-light) is missing"
    one = cluster.start_instance(**GC_ENV)
    two = cluster.start_instance(**GC_ENV)
    balancer = Balancer(tmp_path / "nginx", _port(), [one.host, two.host]).start()
    try:
        goal = CollectionsDuringTraffic(lambda: one.stderr() + two.stderr(), collections=2)
        report = asyncio.run(soak(balancer.url, SECONDS, goal))
        assert report.push_errors == []
        asyncio.run(pull_all(balancer.url, report))
        assert report.pull_errors == []

        final_collection(tmp_path, cluster)
        assert asyncio.run(blobs_in_bucket(cluster)) == report.reachable()
        asyncio.run(pull_all(balancer.url, report))
        assert report.pull_errors == []
    finally:
        balancer.stop()


def _port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
