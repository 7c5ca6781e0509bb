"""The Containerfile, built and run with podman: a non-root registry that reads
/etc/dockyard/config.yml, stores in its volume, serves skopeo on port 5000 and stops
with status 0 on SIGTERM.

No base image can be pulled here, so the test builds the base the Containerfile's
``BASE`` argument takes from Debian packages (mmdebstrap: python3, its venv module,
useradd), cached between runs by its package list, and imports it into a podman store of
its own. The build itself fetches dockyard's dependencies from PyPI, as it does for users.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import REPOSITORY, run

from dockyard.testing import RegistryClient, digest_of, tar_layer

SUITE = "bookworm"  # Debian 12: python3 is 3.11, as in python:3.11-slim
PACKAGES = ("python3", "python3-venv", "ca-certificates", "passwd")
# This machine reaches PyPI through a TLS proxy its own CA bundle trusts: the base trusts
# the same bundle, so that pip inside the build does too.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
MMDEBSTRAP = [
    "mmdebstrap",
    "--variant=essential",
    "--format=tar",
    f"--include={','.join(PACKAGES)}",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    f"--customize-hook=upload {HOST_CA_BUNDLE} {HOST_CA_BUNDLE}",
    f"--customize-hook=printf '[global]\\ncert = {HOST_CA_BUNDLE}\\n' > \"$1/etc/pip.conf\"",
    SUITE,
]
IMAGE = "localhost/dockyard:test"
PORT_TIMEOUT = 60.0


def _cache_dir() -> Path:
    base = os.environ.get("DOCKYARD_TEST_CACHE") or Path.home() / ".cache" / "dockyard-tests"
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _base_tarball() -> Path:
    """The Debian base as a tarball, built once per package list (and CA bundle)."""
    if shutil.which("mmdebstrap") is None:
        pytest.fail("mmdebstrap (Debian package) is needed to build the base image")
    key_source = json.dumps([MMDEBSTRAP, hashlib.sha256(HOST_CA_BUNDLE.read_bytes()).hexdigest()])
    key = hashlib.sha256(key_source.encode()).hexdigest()[:16]
    tarball = _cache_dir() / f"debian-{SUITE}-python3-{key}.tar"
    if not tarball.exists():
        partial = tarball.with_name(f".{tarball.stem}.{os.getpid()}.tar")
        try:
            run([*MMDEBSTRAP, partial], timeout=600)
            partial.rename(tarball)
        finally:
            partial.unlink(missing_ok=True)
    return tarball


@dataclass(frozen=True)
class Podman:
    """podman as root with a store of its own; runc, as crun refuses this host's cgroups."""

    root: Path
    runroot: Path

    def argv(self, *args: str | Path) -> list[str | Path]:
        store = ["--root", self.root, "--runroot", self.runroot, "--storage-driver", "overlay"]
        return ["podman", *store, "--runtime", "runc", *args]

    def __call__(self, *args: str | Path, timeout: float = 600) -> str:
        return run(self.argv(*args), timeout=timeout).stdout

    def cleanup(self, *args: str) -> None:
        """Run a clean-up command, whatever it answers."""
        subprocess.run([str(a) for a in self.argv(*args)], capture_output=True, check=False)

    def run_registry(self, name: str, port: int, *options: str) -> str:
        """Start the image detached, port 5000 published on 127.0.0.1:``port``."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        return self(
            "run",
            "--detach",
            "--name",
            name,
            # podman's default limits exceed what this host lets root set: keep ours.
            "--ulimit",
            f"nofile={soft}:{hard}",
            "--ulimit",
            "nproc=4096:4096",
            "--publish",
            f"127.0.0.1:{port}:5000",
            "--env",
            "REGISTRY_HTTP_SECRET=" + "s" * 32,
            *options,
            IMAGE,
        ).strip()


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + PORT_TIMEOUT
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {PORT_TIMEOUT}s")


@pytest.fixture(scope="module")
def podman() -> Iterator[Podman]:
    if shutil.which("podman") is None or os.geteuid() != 0:
        pytest.fail("podman (Debian package) as root is needed")
    if shutil.which("runc") is None:
        pytest.fail("runc (Debian package) is needed: apt-get install runc")
    # Short paths: the runroot holds sockets, whose paths are limited to 108 bytes.
    top = Path(tempfile.mkdtemp(prefix="dy-image-"))
    store = Podman(top / "root", top / "run")
    try:
        yield store
    finally:
        store.cleanup("rm", "--all", "--force")
        store.cleanup("system", "reset", "--force")
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="module")
def image(podman: Podman) -> str:
    """The Containerfile built on the Debian base, as ``IMAGE``."""
    base = "localhost/dockyard-test-base:" + _base_tarball().stem.rsplit("-", 1)[1]
    podman("import", _base_tarball(), base)
    podman(
        "build",
        "--isolation",
        "chroot",
        "--build-arg",
        f"BASE={base}",
        "--tag",
        IMAGE,
        "--file",
        REPOSITORY / "Containerfile",
        REPOSITORY,
        timeout=900,
    )
    return IMAGE


@pytest.fixture
def container(
    podman: Podman, image: str, free_port: Callable[[], int]
) -> Iterator[tuple[str, str]]:
    """A running container with a named volume, and its URL."""
    port = free_port()
    name = f"dockyard-{port}"
    podman("volume", "create", name)
    podman.run_registry(name, port, "--volume", f"{name}:/var/lib/dockyard")
    url = f"http://127.0.0.1:{port}"
    _wait_for(f"{url}/v2/")
    try:
        yield name, url
    finally:
        podman.cleanup("rm", "--force", name)


def _oci_layout(path: Path) -> str:
    """A one-layer image as an OCI layout at ``path``; returns its manifest digest."""
    layer = tar_layer({"hello.txt": b"hello from the container test\n"})
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [digest_of(layer)]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest_of(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest_of(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for blob in (layer, config, manifest):
        (blobs / digest_of(blob).split(":")[1]).write_bytes(blob)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (path / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": digest_of(manifest),
                        "size": len(manifest),
                        "annotations": {"org.opencontainers.image.ref.name": "v1"},
                    }
                ],
            }
        )
    )
    return digest_of(manifest)


def test_image_declares_port_5000_the_storage_volume_and_a_non_root_user(
    podman: Podman, image: str
) -> None:
    (inspected,) = json.loads(podman("image", "inspect", image))
    config = inspected["Config"]
    assert "5000/tcp" in config["ExposedPorts"]
    assert "/var/lib/dockyard" in config["Volumes"]
    assert config["User"] == "dockyard:dockyard"
    assert config["StopSignal"] == "SIGTERM"


def test_container_serves_as_a_non_root_user(podman: Podman, container: tuple[str, str]) -> None:
    name, _ = container
    pid = podman("inspect", "--format", "{{.State.Pid}}", name).strip()
    status = Path(f"/proc/{pid}/status").read_text()
    (uids,) = [line.split()[1:] for line in status.splitlines() if line.startswith("Uid:")]
    assert uids == ["10001"] * 4


def test_skopeo_push_and_pull_through_the_container_round_trip(
    container: tuple[str, str], tmp_path: Path
) -> None:
    _, url = container
    host = url.removeprefix("http://")
    digest = _oci_layout(tmp_path / "source")
    run(
        [
            "skopeo",
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            f"oci:{tmp_path / 'source'}:v1",
            f"docker://{host}/team/app:v1",
        ],
        timeout=120,
    )
    run(
        [
            "skopeo",
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            f"docker://{host}/team/app:v1",
            f"oci:{tmp_path / 'pulled'}:v1",
        ],
        timeout=120,
    )
    index = json.loads((tmp_path / "pulled" / "index.json").read_text())
    assert [entry["digest"] for entry in index["manifests"]] == [digest]


def test_pushed_content_is_stored_in_the_volume_by_the_image_config(
    podman: Podman, container: tuple[str, str]
) -> None:
    name, url = container
    RegistryClient(url).push_image("stored", "v1")
    volume = Path(podman("volume", "inspect", "--format", "{{.Mountpoint}}", name).strip())
    tag = volume / "docker/registry/v2/repositories/stored/_manifests/tags/v1/current/link"
    assert tag.read_text().startswith("sha256:")


def test_container_stops_with_status_0_promptly_on_sigterm(
    podman: Podman, container: tuple[str, str]
) -> None:
    name, url = container
    RegistryClient(url).push_image("before-stop", "v1")
    started = time.monotonic()
    podman("stop", "--time", "30", name)
    assert time.monotonic() - started < 10
    assert podman("inspect", "--format", "{{.State.ExitCode}}", name).strip() == "0"
