"""The storage layer's caches hold no more memory than their stated bounds, measured
with ``tracemalloc`` after filling each well past its bound with real calls."""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from retained import KiB, MiB, released, traced_bytes, tracing

from dockyard.assembly import build_cache
from dockyard.config import from_dict
from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.manifest.base import OCI_MANIFEST
from dockyard.storage.cache.memory import MemoryBlobDescriptorCache
from dockyard.storage.driver.filesystem import FilesystemDriver, folder_listings, read_memo
from dockyard.storage.driver.filesystem.folder_listings import FolderListings
from dockyard.storage.driver.inmemory import InMemoryDriver
from dockyard.storage.driver.plan import Plan, Read
from dockyard.storage.manifest_cache import ManifestCache
from dockyard.storage.registry import StorageRegistry

CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _manifest(config: Descriptor, padding: int) -> bytes:
    """An image manifest whose annotations make its parse as large as we like."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config.to_json(),
            "layers": [],
            "annotations": {f"k{n}": os.urandom(24).hex() for n in range(padding)},
        }
    ).encode()


async def test_manifest_cache_holds_no_more_than_its_budget_after_many_pulls() -> None:
    registry = StorageRegistry(InMemoryDriver())
    budget = MiB
    registry.manifest_cache = ManifestCache(budget)
    repo = registry.repository("memory/manifests")
    config_body = b'{"os":"linux"}'
    digest = Digest.of(config_body)
    status = await repo.uploads.create()
    await repo.uploads.append(status.id, 0, _chunks(config_body))
    await repo.uploads.commit(status.id, digest, len(config_body))
    config = Descriptor(CONFIG_TYPE, digest, len(config_body))
    with tracing():
        pulled = 0
        for _ in range(100):  # ~30 KiB of parsed JSON each: three budgets' worth
            body = _manifest(config, padding=100)
            await repo.manifests.put(body, OCI_MANIFEST)
            assert (await repo.manifests.get(Digest.of(body))).body == body
            pulled += 1
        assert len(registry.manifest_cache) < pulled  # it did evict
        assert registry.manifest_cache.charged_bytes <= budget
        held = released(registry.manifest_cache.clear)
    assert budget // 2 < held <= budget


async def test_descriptor_cache_holds_no_more_than_its_bytes_bound() -> None:
    bound = MiB
    cache = MemoryBlobDescriptorCache(size=100_000, max_bytes=bound)
    with tracing():
        # Annotations make each ~2 KiB: four bounds' worth, far under the entry bound.
        for n in range(2000):
            annotations = {f"k{i}": os.urandom(24).hex() for i in range(16)}
            digest = Digest.of(n.to_bytes(4, "big"))
            await cache.set(Descriptor(CONFIG_TYPE, digest, n, annotations=annotations))
        assert len(cache) < 2000
        assert cache.charged_bytes <= bound
        before = traced_bytes()
        await cache.close()
        held = before - traced_bytes()
    assert bound // 2 < held <= bound


def _read_plan(path: str) -> Callable[[], Plan[bytes | None]]:
    def plan() -> Plan[bytes | None]:
        content: bytes | None = yield Read(path)
        return content

    return plan


async def test_read_memo_holds_no_more_than_its_bytes_bound_and_watches_no_more_folders(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    files = [f"/memo/f{n:03}/data" for n in range(160)]  # 40 KiB each: three bounds' worth
    for path in files:
        (root / path.lstrip("/")).parent.mkdir(parents=True)
        (root / path.lstrip("/")).write_bytes(os.urandom(40 * KiB))
    driver = FilesystemDriver(root)
    with tracing():
        for path in files:
            assert await driver.run(_read_plan(path), reads_only=True) is not None
        memo = driver._read_memo()
        assert memo is not None, "the test folder is on a local file system"
        assert memo.charged_bytes <= read_memo.DEFAULT_MAX_BYTES
        assert memo.watches <= len(memo._values) < len(files)
        del memo
        before = traced_bytes()
        await driver.close()
        held = before - traced_bytes()
    assert read_memo.DEFAULT_MAX_BYTES // 2 < held <= read_memo.DEFAULT_MAX_BYTES


async def test_folder_listings_hold_no_more_than_their_bytes_bound(tmp_path: Path) -> None:
    folders = [tmp_path / f"folder{n}" for n in range(20)]
    for folder in folders:  # 100 long names each: four bounds' worth
        for name in range(100):
            (folder / f"{name:03}{'x' * 200}").mkdir(parents=True)
    time.sleep(folder_listings.SETTLED_NS / 1e9 + 0.1)  # old enough to be kept
    bound = 128 * KiB
    with tracing():
        kept = [FolderListings(bound)]
        for folder in folders:
            assert len(kept[0].names(str(folder)) or []) == 100
        assert kept[0].charged_bytes <= bound
        held = released(kept.clear)
    assert bound // 2 < held <= bound


async def test_upload_locks_do_not_outlive_the_requests_that_took_them() -> None:
    registry = StorageRegistry(InMemoryDriver())
    repo = registry.repository("memory/uploads")
    for n in range(200):
        data = os.urandom(1024) + n.to_bytes(4, "big")
        status = await repo.uploads.create()
        await repo.uploads.append(status.id, 0, _chunks(data))
        await repo.uploads.commit(status.id, Digest.of(data), len(data))
    assert len(registry.session_locks) == 0


def test_configured_descriptor_bytes_bound_reaches_the_cache(tmp_path: Path) -> None:
    storage = {
        "filesystem": {"rootdirectory": str(tmp_path)},
        "cache": {"blobdescriptor": "inmemory", "blobdescriptorbytes": 65536},
    }
    cache = build_cache(from_dict({"version": 0.1, "storage": storage}))
    assert isinstance(cache, MemoryBlobDescriptorCache)
    assert cache.max_bytes == 65536
