"""The ``sync`` section: ``dockyard serve`` copies from another registry on its own."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from e2e_images import OCI_MANIFEST, OciLayout
from e2e_processes import copy, dockyard_config, dockyard_process, reference_process


def test_serve_runs_the_sync_jobs_at_start_up(tmp_path: Path, free_port: Callable[[], int]) -> None:
    layout = OciLayout(tmp_path / "source")
    release = layout.add_image("v1", layers=1)
    layout.add_image("dev", layers=1)
    upstream = reference_process(tmp_path, free_port(), tmp_path / "upstream-root").start()
    port = free_port()
    config = dockyard_config(tmp_path / "root", port)
    config["sync"] = {
        "interval": "1h",
        "jobs": [{"from": upstream.url, "repositories": ["team/app"], "tags": "^v"}],
    }
    server = dockyard_process(
        tmp_path, port, config, env={"REGISTRY_HTTP_SECRET": secrets.token_hex(16)}
    )
    try:
        for tag in ("v1", "dev"):
            copy(layout.ref(tag), f"docker://{upstream.host}/team/app:{tag}")
        server.start()
        url = f"{server.url}/v2/team/app/manifests"
        synced = _wait_for_manifest(f"{url}/v1")
        skipped = httpx.get(f"{url}/dev", headers={"Accept": OCI_MANIFEST})
    finally:
        server.stop()
        upstream.stop()

    assert synced.status_code == 200, server.stderr()[-2000:]
    assert synced.headers["docker-content-digest"] == release.digest
    assert skipped.status_code == 404


def test_serve_syncs_again_every_interval_and_copies_tags_pushed_since(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    layout = OciLayout(tmp_path / "source")
    layout.add_image("v1", layers=1)
    later = layout.add_image("v2", layers=1)
    upstream = reference_process(tmp_path, free_port(), tmp_path / "upstream-root").start()
    port = free_port()
    config = dockyard_config(tmp_path / "root", port)
    config["sync"] = {"interval": "2s", "jobs": [{"from": upstream.url, "prefix": "team"}]}
    server = dockyard_process(
        tmp_path, port, config, env={"REGISTRY_HTTP_SECRET": secrets.token_hex(16)}
    )
    url = f"{server.url}/v2/team/app/manifests"
    try:
        copy(layout.ref("v1"), f"docker://{upstream.host}/team/app:v1")
        server.start()
        first = _wait_for_manifest(f"{url}/v1")
        copy(layout.ref("v2"), f"docker://{upstream.host}/team/app:v2")
        second = _wait_for_manifest(f"{url}/v2")
    finally:
        server.stop()
        upstream.stop()

    assert first.status_code == 200, server.stderr()[-2000:]
    assert second.status_code == 200, server.stderr()[-2000:]
    assert second.headers["docker-content-digest"] == later.digest


def _wait_for_manifest(url: str, timeout: float = 30.0) -> httpx.Response:
    """The manifest at ``url`` once it is there, or the last answer after ``timeout``."""
    deadline = time.monotonic() + timeout
    answer = httpx.get(url, headers={"Accept": OCI_MANIFEST})
    while answer.status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
        answer = httpx.get(url, headers={"Accept": OCI_MANIFEST})
    return answer
