"""``dockyard gc``: what it reports (text, JSON, progress on a terminal) and its lease."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import yaml
from e2e_processes import clean_environment
from storage_helpers import push_blob, push_image

from dockyard.digest import Digest
from dockyard.storage import paths
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.registry import StorageRegistry

ORPHAN = b"an orphan layer of 27 bytes"


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "gc.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "version": 0.1,
                "http": {"secret": "a secret shared by the instances"},
                "storage": {"filesystem": {"rootdirectory": str(tmp_path / "root")}},
            }
        )
    )
    return config


def prepare(tmp_path: Path) -> tuple[Path, Digest, Digest]:
    """A root with a tagged image and an orphan blob; the config, the orphan and the image."""

    async def fill() -> tuple[Digest, Digest]:
        driver = FilesystemDriver(tmp_path / "root")
        repo = StorageRegistry(driver).repository("app")
        body, _, _ = await push_image(repo, b"kept")
        await repo.tags.tag("v1", Digest.of(body))
        orphan = await push_blob(repo, ORPHAN)
        await driver.close()
        return orphan.digest, Digest.of(body)

    orphan, image = asyncio.run(fill())
    return write_config(tmp_path), orphan, image


def gc(
    config: Path, *flags: str, stderr: int | None = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dockyard.cli", "gc", str(config), "--grace", "0s", *flags],
        cwd=config.parent,
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        check=False,
        timeout=60,
    )


def test_dry_run_lists_each_blob_it_would_delete_with_its_size(tmp_path: Path) -> None:
    config, orphan, _ = prepare(tmp_path)
    result = gc(config, "--dry-run")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"blob {orphan} {len(ORPHAN)}"
    assert lines[-1].startswith("dry run: ")
    assert f"({len(ORPHAN)} bytes) would be swept" in lines[-1]
    assert (tmp_path / "root" / paths.blob_data(orphan).lstrip("/")).exists()


def test_json_report_names_every_deleted_blob_and_the_bytes_reclaimed(tmp_path: Path) -> None:
    config, orphan, _ = prepare(tmp_path)
    result = gc(config, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["blobs_deleted"] == [{"digest": str(orphan), "size": len(ORPHAN)}]
    assert (report["bytes_freed"], report["dry_run"], report["strays"]) == (len(ORPHAN), False, [])


def test_delete_untagged_lists_the_manifests_it_deletes(tmp_path: Path) -> None:
    config, _, image = prepare(tmp_path)

    async def untag() -> None:
        driver = FilesystemDriver(tmp_path / "root")
        await StorageRegistry(driver).repository("app").tags.untag("v1")
        await driver.close()

    asyncio.run(untag())
    report = json.loads(gc(config, "--json", "--delete-untagged").stdout)
    assert [(m["repository"], m["digest"]) for m in report["manifests_deleted"]] == [
        ("app", str(image))
    ]


def test_progress_is_drawn_on_a_terminal(tmp_path: Path) -> None:
    config, _, _ = prepare(tmp_path)
    leader, follower = pty.openpty()
    try:
        result = gc(config, stderr=follower)
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(leader)
    assert result.returncode == 0
    assert b"sweep [##############################] 1/1" in drawn


def test_no_progress_is_written_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    config, _, _ = prepare(tmp_path)
    result = gc(config)
    assert (result.returncode, result.stderr) == (0, "")


def test_a_second_collector_is_refused_while_the_lease_is_held(tmp_path: Path) -> None:
    config, orphan, _ = prepare(tmp_path)
    lease = tmp_path / "root" / paths.GC_LEASE.lstrip("/")
    lease.parent.mkdir(parents=True, exist_ok=True)
    lease.write_text(json.dumps({"owner": "another", "expires": time.time() + 60}))
    result = gc(config)
    assert result.returncode == 1
    assert "another collection is running" in result.stderr
    assert (tmp_path / "root" / paths.blob_data(orphan).lstrip("/")).exists()


def test_an_expired_lease_is_taken_over(tmp_path: Path) -> None:
    config, orphan, _ = prepare(tmp_path)
    lease = tmp_path / "root" / paths.GC_LEASE.lstrip("/")
    lease.parent.mkdir(parents=True, exist_ok=True)
    lease.write_text(json.dumps({"owner": "crashed", "expires": time.time() - 1}))
    result = gc(config, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["blobs_deleted"][0]["digest"] == str(orphan)
    assert not lease.exists()
