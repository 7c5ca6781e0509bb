"""Garbage collection: mark-and-sweep over the blob store, like ``registry garbage-collect``.

Mark: every manifest revision of every repository is reachable, with its config, layers
and (for indexes) child manifests. With ``remove_untagged``, only manifests reachable from
a tag are kept (tagged manifests, the children of kept indexes and the referrers of kept
manifests, transitively); the others are deleted like a ``DELETE`` of the manifest.
Sweep: every blob in ``blobs/`` that was not marked is deleted.

As with the reference registry, run it while nothing is pushed (read-only mode): a blob
uploaded for a manifest that is not pushed yet is unreferenced and would be swept.
``grace`` keeps blobs younger than it, which makes a live collection safe for pushes that
complete within that time.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dockyard.digest import Digest, is_digest
from dockyard.errors import BlobUnknown, ManifestInvalid, ManifestUnknown, ManifestUnverified
from dockyard.manifest.base import Manifest
from dockyard.storage import paths
from dockyard.storage.cache.base import BlobDescriptorCache
from dockyard.storage.catalog import repository_names
from dockyard.storage.driver.base import PathNotFound, StorageDriver
from dockyard.storage.manifests import load_manifest, revisions
from dockyard.storage.registry import StorageRegistry

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class GCResult:
    """What a collection found and did (or would do, in a dry run)."""

    repositories: int = 0
    manifests_marked: int = 0
    blobs_marked: int = 0
    manifests_deleted: list[tuple[str, Digest]] = field(default_factory=list)
    blobs_deleted: list[Digest] = field(default_factory=list)
    bytes_freed: int = 0
    #: Files under ``blobs/`` that are no blob's content (left alone, never deleted).
    strays: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"{self.repositories} repositories, {self.manifests_marked} manifests and "
            f"{self.blobs_marked} blobs marked; {len(self.manifests_deleted)} manifests and "
            f"{len(self.blobs_deleted)} blobs ({self.bytes_freed} bytes) swept"
        )
        if self.strays:
            text += f"; {len(self.strays)} stray files under blobs/ skipped: " + ", ".join(
                self.strays
            )
        return text


async def collect_garbage(
    driver: StorageDriver,
    *,
    dry_run: bool = False,
    remove_untagged: bool = False,
    grace: timedelta = timedelta(0),
    cache: BlobDescriptorCache | None = None,
) -> GCResult:
    """Mark reachable blobs and delete the rest; ``dry_run`` only reports.

    Pass the registry's blob-descriptor ``cache`` so swept blobs leave it too (a shared
    Redis cache would otherwise answer for them until its entries expire).
    """
    registry = StorageRegistry(driver, blob_descriptor_cache=cache)
    result = GCResult()
    marked: set[Digest] = set()
    for name in await repository_names(driver):
        result.repositories += 1
        repository = registry.repository(name)
        manifests: dict[Digest, Manifest] = {}
        for digest in await revisions(driver, name):
            try:
                manifest = await load_manifest(driver, name, digest)
            except (ManifestInvalid, ManifestUnverified):
                # Not understood (say, an unsigned schema1 payload the reference stored):
                # keep it and everything it seems to name, never sweep on a guess.
                result.manifests_marked += 1
                marked.add(digest)
                marked.update(await _digests_named_in(driver, digest))
                continue
            if manifest is not None:
                manifests[digest] = manifest
        keep = set(manifests)
        if remove_untagged:
            keep = _reachable_from(set((await repository.tags.current()).values()), manifests)
            for digest in sorted(set(manifests) - keep):
                result.manifests_deleted.append((name, digest))
                if not dry_run:
                    with contextlib.suppress(ManifestUnknown):
                        await repository.manifests.delete(digest)
        for digest in keep:
            manifest = manifests[digest]
            result.manifests_marked += 1
            marked.add(digest)
            marked.update(d.digest for d in manifest.blob_references)
            marked.update(d.digest for d in manifest.manifests)
    result.blobs_marked = len(marked)
    cutoff = datetime.now(UTC) - grace if grace > timedelta(0) else None
    await _sweep(registry, marked, result, dry_run, cutoff)
    return result


async def collect(
    driver: StorageDriver,
    *,
    dry_run: bool = False,
    delete_untagged: bool = False,
    cache: BlobDescriptorCache | None = None,
) -> GCResult:
    """``collect_garbage`` under the names the ``dockyard gc`` command uses."""
    return await collect_garbage(
        driver, dry_run=dry_run, remove_untagged=delete_untagged, cache=cache
    )


async def _digests_named_in(driver: StorageDriver, digest: Digest) -> set[Digest]:
    """Every digest a stored manifest's JSON names under ``digest`` or ``blobSum``."""
    try:
        raw = json.loads(await driver.get_content(paths.blob_data(digest)))
    except (PathNotFound, ValueError):
        return set()
    found: set[Digest] = set()
    pending: list[Any] = [raw]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if key in ("digest", "blobSum") and isinstance(item, str) and is_digest(item):
                    found.add(Digest.parse(item))
                else:
                    pending.append(item)
        elif isinstance(value, list):
            pending.extend(value)
    return found


def _reachable_from(roots: set[Digest], manifests: dict[Digest, Manifest]) -> set[Digest]:
    """Manifests reachable from ``roots`` via index children and referrers."""
    referrers: dict[Digest, list[Digest]] = {}
    for digest, manifest in manifests.items():
        if manifest.subject is not None:
            referrers.setdefault(manifest.subject.digest, []).append(digest)
    reachable: set[Digest] = set()
    pending = [d for d in roots if d in manifests]
    while pending:
        digest = pending.pop()
        if digest in reachable:
            continue
        reachable.add(digest)
        pending.extend(d.digest for d in manifests[digest].manifests if d.digest in manifests)
        pending.extend(referrers.get(digest, []))
    return reachable


async def _sweep(
    registry: StorageRegistry,
    marked: set[Digest],
    result: GCResult,
    dry_run: bool,
    cutoff: datetime | None,
) -> None:
    doomed: list[tuple[Digest, int]] = []
    with contextlib.suppress(PathNotFound):
        async for info in registry.driver.walk(paths.BLOBS):
            if info.is_dir:
                continue
            digest = paths.blob_digest_from_data_path(info.path)
            if digest is None:
                # Not the layout's: someone else's file. Reported, never swept on a guess.
                stray = info.path.removeprefix(paths.BLOBS + "/")
                logger.warning("gc: skipping %s under blobs/: not a blob's content", stray)
                result.strays.append(stray)
                continue
            if digest in marked:
                continue
            if cutoff is None or info.mod_time < cutoff:
                doomed.append((digest, info.size))
    # Deleting after the walk keeps the walk's listing consistent.
    for digest, size in doomed:
        if not dry_run:
            try:
                await registry.blob_store.delete(digest)
            except BlobUnknown:
                continue
        result.blobs_deleted.append(digest)
        result.bytes_freed += size
