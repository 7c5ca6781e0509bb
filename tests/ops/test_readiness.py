"""Readiness from the ``health`` checks: unready is a 503 on the probes, never on the API."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from ops_helpers import Image, StartDockyard, push_image, wait_for
from redis_server import RedisServer

FAST_CHECKS = {"storagedriver": {"enabled": True, "interval": "200ms", "threshold": 1}}


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs of its own, so that the test can make its storage read-only."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"this test needs to mount a tmpfs (root): {result.stderr}"
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _remount(mount: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(mount)], check=True)


def test_readyz_turns_unready_when_storage_is_unwritable_while_reads_keep_working(
    tmpfs: Path, start_dockyard: StartDockyard
) -> None:
    registry = start_dockyard({"health": FAST_CHECKS}, root=tmpfs / "root")
    image = Image.random()
    with httpx.Client(base_url=registry.url) as client:
        push_image(client, "ready/app", "v1", image)
        assert client.get("/readyz").status_code == 200

        _remount(tmpfs, "ro")
        try:
            unready = wait_for(
                lambda: (r := client.get("/readyz")).status_code == 503 and r, 30, "unready"
            )
            assert set(unready.json()) == {"storagedriver"}
            # The debug listener reports the same checks, run once for the whole process.
            health = wait_for(
                lambda: (
                    (r := httpx.get(f"{registry.debug_url}/debug/health")).status_code == 503 and r
                ),
                30,
                "debug health unready",
            )
            assert set(health.json()) == {"storagedriver"}
            assert client.get("/v2/").status_code == 200
            pulled = client.get("/v2/ready/app/manifests/v1")
            assert pulled.status_code == 200
            assert pulled.content == image.manifest
        finally:
            _remount(tmpfs, "rw")

        wait_for(lambda: client.get("/readyz").status_code == 200, 30, "ready again")
        wait_for(
            lambda: httpx.get(f"{registry.debug_url}/debug/health").json() == {},
            30,
            "debug health ready again",
        )


def test_a_failing_file_check_makes_the_instance_unready_until_the_file_goes(
    start_dockyard: StartDockyard, tmp_path: Path
) -> None:
    maintenance = tmp_path / "maintenance"
    health = {**FAST_CHECKS, "file": [{"file": str(maintenance), "interval": "200ms"}]}
    registry = start_dockyard({"health": health})
    check = f"file_{maintenance}"
    maintenance.touch()
    failing = wait_for(
        lambda: (r := httpx.get(f"{registry.url}/readyz")).status_code == 503 and r.json(),
        30,
        "unready",
    )
    assert failing == {check: f"file exists: {maintenance}"}
    assert httpx.get(f"{registry.url}/v2/").status_code == 200
    maintenance.unlink()
    wait_for(lambda: httpx.get(f"{registry.url}/readyz").status_code == 200, 30, "ready")


def test_debug_health_of_several_workers_reports_the_checks_they_share(
    start_dockyard: StartDockyard, tmp_path: Path
) -> None:
    maintenance = tmp_path / "maintenance"
    health = {**FAST_CHECKS, "file": [{"file": str(maintenance), "interval": "200ms"}]}
    registry = start_dockyard({"health": health}, workers=2)
    # Both workers must have started and shared a first round of checks: slow on a busy host.
    wait_for(lambda: httpx.get(f"{registry.debug_url}/debug/health").json() == {}, 30, "ready")
    maintenance.touch()
    failing = wait_for(
        lambda: (
            (r := httpx.get(f"{registry.debug_url}/debug/health")).status_code == 503 and r.json()
        ),
        30,
        "unready",
    )
    assert failing == {f"file_{maintenance}": f"file exists: {maintenance}"}
    maintenance.unlink()
    wait_for(
        lambda: httpx.get(f"{registry.debug_url}/readyz").status_code == 200, 30, "ready again"
    )


def test_http_and_tcp_checks_keep_the_instance_unready_until_their_service_answers(
    start_dockyard: StartDockyard, tmp_path: Path, free_port: Callable[[], int]
) -> None:
    port = free_port()
    checks = {
        **FAST_CHECKS,
        "http": [{"uri": f"http://127.0.0.1:{port}/", "interval": "200ms", "timeout": "1s"}],
        "tcp": [{"addr": f"127.0.0.1:{port}", "interval": "200ms", "timeout": "1s"}],
    }
    registry = start_dockyard({"health": checks})
    failing = wait_for(
        lambda: (r := httpx.get(f"{registry.url}/readyz")).status_code == 503 and r.json(),
        30,
        "unready while nothing listens",
    )
    assert set(failing) == {f"http_http://127.0.0.1:{port}/", f"tcp_127.0.0.1:{port}"}
    assert httpx.get(f"{registry.url}/v2/").status_code == 200
    service = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: httpx.get(f"{registry.url}/readyz").status_code == 200, 30, "ready")
    finally:
        service.terminate()
        service.wait(10)


def test_an_unreachable_redis_makes_the_instance_unready_while_reads_keep_working(
    start_dockyard: StartDockyard, redis_server: RedisServer
) -> None:
    registry = start_dockyard({"redis": {"addr": redis_server.addr}, "health": FAST_CHECKS})
    image = Image.random()
    with httpx.Client(base_url=registry.url) as client:
        push_image(client, "ready/redis", "v1", image)
        wait_for(lambda: client.get("/readyz").status_code == 200, 30, "ready")
        redis_server.kill()
        failing = wait_for(
            lambda: (r := client.get("/readyz")).status_code == 503 and r.json(),
            60,
            "unready once Redis is gone",
        )
        assert set(failing) == {"redis"}
        pulled = client.get("/v2/ready/redis/manifests/v1")
        assert (pulled.status_code, pulled.content) == (200, image.manifest)
