"""A collector killed mid-collection (SIGKILL) leaves its marker; its heartbeat stops, and
the next collection takes it away, so writers and later collections are not held up for
good. Real ``dockyard gc`` processes on a real root, and a real server taking pushes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from e2e_processes import clean_environment
from gc_helpers import StartServer
from storage_helpers import CONFIG_TYPE, LAYER_TYPE, image_manifest, push_blob, push_image

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.gc.journal import collections
from dockyard.gc.marker import CollectionExpired, Marker, remove_dead_markers
from dockyard.manifest.base import OCI_MANIFEST
from dockyard.storage import paths
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.registry import StorageRegistry

#: Orphan blobs for the killed collector to work through.
ORPHANS = 50


def _on_disk(root: Path, path: str) -> Path:
    return root / path.lstrip("/")


def _markers(root: Path) -> list[str]:
    folder = _on_disk(root, paths.GC_COLLECTING)
    if not folder.exists():
        return []
    # A name with ``#`` is the driver's write in flight, not yet a marker.
    names = (p.name for p in folder.iterdir() if "#" not in p.name)
    return sorted(name for name in names if not name.startswith("swept-"))


def _config(tmp_path: Path, root: Path, name: str, lease: str | None = None) -> Path:
    gc = {"lease": lease} if lease is not None else {}
    config = tmp_path / f"{name}.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "version": 0.1,
                "http": {"secret": "a secret shared by the instances"},
                "storage": {
                    "filesystem": {"rootdirectory": str(root)},
                    "maintenance": {"gc": gc},
                },
            }
        )
    )
    return config


def _gc(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dockyard.cli", "gc", str(config), "--grace", "0s", "--json"],
        cwd=config.parent,
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@dataclass
class Crashed:
    """A root whose collector was killed mid-collection."""

    root: Path
    kept: Digest
    orphans: list[Digest]
    dead: str


@pytest.fixture
def crashed(tmp_path: Path) -> Crashed:
    root = tmp_path / "root"

    async def fill() -> tuple[Digest, list[Digest]]:
        driver = FilesystemDriver(root)
        repo = StorageRegistry(driver).repository("app")
        body, _, _ = await push_image(repo, b"kept")
        await repo.tags.tag("v1", Digest.of(body))
        orphans = [
            (await push_blob(repo, f"orphan {n} ".encode() * 8)).digest for n in range(ORPHANS)
        ]
        await driver.close()
        return Digest.of(body), orphans

    kept, orphans = asyncio.run(fill())
    dead = _kill_mid_collection(_config(tmp_path, root, "victim", lease="2s"), root)
    # Its heartbeat has stopped: once it is older than the 2 s lease the marker is dead.
    marker = _on_disk(root, paths.gc_marker(dead))
    while time.time() - marker.stat().st_mtime <= 2.5:
        time.sleep(0.1)
    return Crashed(root, kept, orphans, dead)


def _kill_mid_collection(config: Path, root: Path) -> str:
    """Start ``dockyard gc`` and SIGKILL it once its marker is written; the marker's name.
    A collector that finished before it was seen (a starved test process) is started again."""
    for _ in range(5):
        collector = _gc(config)
        deadline = time.monotonic() + 60
        while not _markers(root) and collector.poll() is None:
            assert time.monotonic() < deadline, "the collector never wrote its marker"
            time.sleep(0.005)
        if collector.poll() is None:
            os.kill(collector.pid, signal.SIGKILL)
        _, err = collector.communicate(timeout=30)
        assert collector.returncode in (0, -signal.SIGKILL), err
        left = _markers(root)
        if collector.returncode == -signal.SIGKILL and left:
            (dead,) = left
            return dead
    raise AssertionError("every collector finished before it could be killed")


def _upload(url: str, content: bytes) -> Digest:
    digest = Digest.of(content)
    uploaded = httpx.post(f"{url}/v2/app/blobs/uploads/?digest={digest}", content=content)
    assert uploaded.status_code == 201, uploaded.text
    return digest


def _collect_until_it_runs(config: Path) -> dict[str, object]:
    """``dockyard gc`` until the dead collector's lease has run out and it collects."""
    deadline = time.monotonic() + 90
    while True:
        out, err = _gc(config).communicate(timeout=120)
        if "another collection is running" not in err:
            break
        assert time.monotonic() < deadline, "the dead collector's lease never ran out"
        time.sleep(0.5)
    assert err == "" or "removing the marker" in err, err
    report: dict[str, object] = json.loads(out)
    return report


def test_the_next_collection_removes_a_killed_collectors_marker_and_collects(
    crashed: Crashed, tmp_path: Path
) -> None:
    _collect_until_it_runs(_config(tmp_path, crashed.root, "next"))
    assert _markers(crashed.root) == []
    assert not _on_disk(crashed.root, paths.GC_IN_USE).exists()
    left = [d for d in crashed.orphans if _on_disk(crashed.root, paths.blob_data(d)).exists()]
    condemned = [
        d for d in crashed.orphans if _on_disk(crashed.root, paths.condemned_blob(d)).exists()
    ]
    assert (left, condemned) == ([], [])
    assert _on_disk(crashed.root, paths.blob_data(crashed.kept)).exists()


def test_the_dead_collection_gets_a_journal_so_every_cache_forgets_what_it_held(
    crashed: Crashed, tmp_path: Path
) -> None:
    _collect_until_it_runs(_config(tmp_path, crashed.root, "next"))
    folder = _on_disk(crashed.root, paths.GC_COLLECTING)
    (journal,) = [p for p in folder.iterdir() if p.name.endswith(f"-{crashed.dead}")]
    assert json.loads(journal.read_text())["swept"] is None


def test_the_registry_takes_pushes_after_a_collector_was_killed(
    crashed: Crashed, tmp_path: Path, start_server: StartServer
) -> None:
    url = start_server(crashed.root, name="server", storage={}).url
    content = b"a layer pushed after the crash"
    layer = Descriptor(LAYER_TYPE, _upload(url, content), len(content))
    config = Descriptor(CONFIG_TYPE, _upload(url, b"{}"), 2)
    body = image_manifest(config, [layer])
    pushed = httpx.put(
        f"{url}/v2/app/manifests/v2", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert pushed.status_code == 201, pushed.text
    _collect_until_it_runs(_config(tmp_path, crashed.root, "next"))
    # Writers no longer record anything: no collection is running as far as they can see.
    assert httpx.head(f"{url}/v2/app/blobs/{layer.digest}").status_code == 200
    assert not _on_disk(crashed.root, paths.GC_IN_USE).exists()
    assert httpx.get(f"{url}/v2/app/manifests/v2").status_code == 200
    assert httpx.get(f"{url}/v2/app/blobs/{layer.digest}").content == content


async def test_a_live_collectors_marker_is_not_taken_away(tmp_path: Path) -> None:
    driver = FilesystemDriver(tmp_path / "root")
    marker = Marker(driver, "alive", timedelta(seconds=60))
    started = await marker.write()
    try:
        assert await remove_dead_markers(driver, started + timedelta(seconds=30), "next") == []
        assert (await collections(driver)).markers == ("alive",)
    finally:
        await marker.stop()
        await driver.close()


async def test_a_collector_whose_marker_was_taken_away_condemns_nothing_more(
    tmp_path: Path,
) -> None:
    driver = FilesystemDriver(tmp_path / "root")
    marker = Marker(driver, "slow", timedelta(seconds=0.4))
    await marker.write()
    try:
        await driver.delete(paths.gc_marker("slow"))
        deadline = time.monotonic() + 30
        while marker.alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        with pytest.raises(CollectionExpired):
            marker.check()
    finally:
        await marker.stop()
        await driver.close()
