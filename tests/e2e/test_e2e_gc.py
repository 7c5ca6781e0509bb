"""``dockyard gc`` on a storage root that ``dockyard serve`` wrote."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from e2e_images import OciLayout
from e2e_processes import StartDockyard, clean_environment, copy


def blob_file(root: Path, digest: str) -> Path:
    hex_ = digest.split(":", 1)[1]
    return root / "docker/registry/v2/blobs/sha256" / hex_[:2] / hex_ / "data"


def gc(workdir: Path, config: Path, *flags: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "dockyard.cli", "gc", str(config), *flags],
        cwd=workdir,
        env=clean_environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_gc_sweeps_the_blobs_of_a_deleted_image_and_keeps_the_rest(
    tmp_path: Path, layout: OciLayout, start_dockyard: StartDockyard
) -> None:
    root = tmp_path / "root"
    kept = layout.add_image("kept", layers=2)
    doomed = layout.add_image("doomed", layers=2)
    server = start_dockyard(root, name="gc")
    copy(layout.ref("kept"), f"docker://{server.host}/gc/repo:kept")
    copy(layout.ref("doomed"), f"docker://{server.host}/gc/repo:doomed")
    deleted = httpx.delete(f"{server.url}/v2/gc/repo/manifests/{doomed.digest}")
    assert deleted.status_code == 202
    server.stop()
    config = tmp_path / "gc.yml"

    report = gc(tmp_path, config, "--dry-run", "--grace", "0s")
    assert report.splitlines()[-1].startswith("dry run:")
    assert all(f"blob {digest} {len(data)}" in report for digest, data in doomed.blobs.items())
    assert all(blob_file(root, digest).exists() for digest in doomed.blobs)

    gc(tmp_path, config, "--grace", "0s")
    assert not any(blob_file(root, digest).exists() for digest in doomed.blobs)
    assert all(blob_file(root, digest).read_bytes() == data for digest, data in kept.blobs.items())

    server = start_dockyard(root, name="gc-after")
    pulled = OciLayout(tmp_path / "pulled")
    copy(f"docker://{server.host}/gc/repo:kept", pulled.ref("kept"))
    assert pulled.resolve("kept")[0] == kept.digest
