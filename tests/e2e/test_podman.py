"""podman push and pull against a real ``dockyard serve`` (root, vfs storage of its own)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_images import DOCKER_MANIFEST, OCI_MANIFEST, OciLayout, sha256
from e2e_processes import ServerProcess, have


@pytest.fixture(autouse=True)
def _need_podman_as_root() -> None:
    if not have("podman") or os.geteuid() != 0:
        pytest.fail(
            "podman (Debian package) as root is needed",
            pytrace=False,
        )


class Podman:
    """podman with its own storage under the test's tmp_path."""

    def __init__(self, run: Path, root: Path) -> None:
        self.argv = [
            "podman",
            "--root",
            str(root),
            "--runroot",
            str(run),
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "none",
        ]

    def __call__(self, *args: str) -> str:
        result = subprocess.run([*self.argv, *args], capture_output=True, timeout=180, check=False)
        if result.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} failed:\n{result.stderr.decode()}")
        return result.stdout.decode()


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[Podman]:
    # podman refuses a runroot path longer than 50 characters, so not under tmp_path.
    home = Path(tempfile.mkdtemp(prefix="dy-podman-"))
    try:
        yield Podman(home, tmp_path / "podman-root")
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_podman_push_then_pull_gives_back_the_same_image(
    dockyard: ServerProcess, layout: OciLayout, podman: Podman
) -> None:
    image = layout.add_image("v1", layers=3)
    podman("pull", layout.ref("v1"))
    image_id = podman("images", "-q", "--no-trunc").split()[0]
    assert image_id == image.config  # podman's image id is the config digest

    reference = f"{dockyard.host}/pod/app:v1"
    podman("push", "--tls-verify=false", image_id, reference)
    pushed = httpx.get(
        f"{dockyard.url}/v2/pod/app/manifests/v1",
        headers={"Accept": f"{OCI_MANIFEST}, {DOCKER_MANIFEST}"},
    )
    assert pushed.status_code == 200
    digest = pushed.headers["docker-content-digest"]
    assert digest == sha256(pushed.content)
    assert json.loads(pushed.content)["config"]["digest"] == image.config

    podman("rmi", "--all", "--force")
    podman("pull", "--tls-verify=false", reference)
    inspected = json.loads(podman("inspect", reference))[0]
    assert inspected["Id"] == image.config.split(":", 1)[1]
    assert f"{dockyard.host}/pod/app@{digest}" in inspected["RepoDigests"]
