"""podman pulling docker.io images through dockyard named as a mirror in registries.conf."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_images import OciLayout
from e2e_processes import copy, have
from proxy_processes import StartMirror, StartUpstream


@pytest.fixture
def podman_home() -> Iterator[Path]:
    if not have("podman") or os.geteuid() != 0:
        pytest.fail("podman (Debian package) as root is needed", pytrace=False)
    # podman refuses a runroot path longer than 50 characters, so not under tmp_path.
    home = Path(tempfile.mkdtemp(prefix="dy-podman-"))
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_podman_pulls_a_docker_hub_name_through_the_mirror_of_registries_conf(
    start_upstream: StartUpstream,
    start_mirror: StartMirror,
    layout: OciLayout,
    podman_home: Path,
) -> None:
    upstream = start_upstream()
    image = layout.add_image("v1", layers=2)
    copy(layout.ref("v1"), f"docker://{upstream.host}/library/app:v1")
    mirror = start_mirror({"remoteurl": upstream.url})
    registries = podman_home / "registries.conf"
    registries.write_text(
        'unqualified-search-registries = ["docker.io"]\n'
        "[[registry]]\n"
        'prefix = "docker.io"\n'
        'location = "docker.io"\n'
        "[[registry.mirror]]\n"
        f'location = "{mirror.host}"\n'
        "insecure = true\n"
    )
    argv = [
        "podman",
        "--root",
        str(podman_home / "root"),
        "--runroot",
        str(podman_home / "run"),
        "--storage-driver",
        "vfs",
        "--cgroup-manager",
        "cgroupfs",
        "--events-backend",
        "none",
    ]
    env = {**os.environ, "CONTAINERS_REGISTRIES_CONF": str(registries)}

    # "app" is docker.io/library/app to podman, and asked of the mirror as library/app.
    pulled = subprocess.run(
        [*argv, "pull", "docker.io/app:v1"], capture_output=True, env=env, timeout=180
    )
    assert pulled.returncode == 0, pulled.stderr.decode()
    images = subprocess.run(
        [*argv, "images", "-q", "--no-trunc"], capture_output=True, env=env, check=True
    )

    assert images.stdout.decode().split()[0] == image.config
