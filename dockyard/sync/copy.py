"""``dockyard sync``: copy repositories and tags of another registry into this one.

Reads the source through ``UpstreamClient`` (its Basic or token authentication, rate
limit and back-off) and writes through the registry's services, as a push would: blobs
through the verified upload path, child manifests before their index, referrers after
their subject, the tag last. What is there already is skipped (a tag pointing at the
same digest, a blob linked already), so an interrupted sync resumes where it stopped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dockyard.digest import Digest
from dockyard.errors import BlobUnknown, ManifestUnknown, TagUnknown
from dockyard.manifest import Manifest, parse_manifest
from dockyard.proxy.client import UpstreamClient
from dockyard.storage.protocols import Registry, Repository
from dockyard.sync.semver import VersionRange

#: Called with a message per tag (and per blob) copied, for a progress display.
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class SyncFilter:
    """Which repositories and tags of the source to copy."""

    repositories: tuple[str, ...] = ()
    prefix: str = ""
    tags: re.Pattern[str] | None = None
    versions: VersionRange | None = None

    def wants_tag(self, tag: str) -> bool:
        """Whether the tag matches the regular expression and the version range (if set)."""
        if self.tags is not None and self.tags.search(tag) is None:
            return False
        return self.versions is None or self.versions.matches(tag)


@dataclass(slots=True)
class SyncReport:
    """What one sync copied and skipped."""

    tags_copied: list[str] = field(default_factory=list)
    tags_current: list[str] = field(default_factory=list)
    manifests: int = 0
    blobs: int = 0
    bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "tags_copied": self.tags_copied,
            "tags_current": self.tags_current,
            "manifests": self.manifests,
            "blobs": self.blobs,
            "bytes": self.bytes,
        }


async def sync(
    source: UpstreamClient,
    registry: Registry,
    selection: SyncFilter,
    progress: Progress,
) -> SyncReport:
    """Copy every selected repository and tag of ``source`` into ``registry``."""
    report = SyncReport()
    names = list(selection.repositories) or await source.catalog()
    for name in names:
        if selection.prefix and not name.startswith(selection.prefix):
            continue
        target = registry.repository(name)
        for tag in sorted(await source.tags(name)):
            if selection.wants_tag(tag):
                await _sync_tag(source, name, target, tag, report, progress)
    return report


async def _sync_tag(
    source: UpstreamClient,
    name: str,
    target: Repository,
    tag: str,
    report: SyncReport,
    progress: Progress,
) -> None:
    remote = await source.head_manifest(name, tag)
    if remote.digest is not None:
        try:
            if await target.tags.resolve(tag) == remote.digest:
                report.tags_current.append(f"{name}:{tag}")
                return
        except TagUnknown:
            pass
    fetched = await source.manifest(name, tag)
    manifest = parse_manifest(fetched.body, fetched.media_type or None)
    await _copy_manifest(source, name, target, manifest, report, progress)
    await target.tags.tag(tag, manifest.digest)
    report.tags_copied.append(f"{name}:{tag}")
    progress(f"{name}:{tag} {manifest.digest}")


async def _copy_manifest(
    source: UpstreamClient,
    name: str,
    target: Repository,
    manifest: Manifest,
    report: SyncReport,
    progress: Progress,
) -> None:
    """Copy a manifest with what it references, then its referrers."""
    try:
        await target.manifests.stat(manifest.digest)
        stored = True
    except ManifestUnknown:
        stored = False
    if not stored:
        for child in manifest.manifests:
            fetched = await source.manifest(name, str(child.digest))
            child_manifest = parse_manifest(fetched.body, fetched.media_type or None)
            await _copy_manifest(source, name, target, child_manifest, report, progress)
        for descriptor in manifest.blob_references:
            await _copy_blob(source, name, target, descriptor.digest, report, progress)
        await target.manifests.put(manifest.body, manifest.media_type, manifest.digest)
        report.manifests += 1
    for entry in await source.referrers(name, manifest.digest) or []:
        digest = Digest.parse(str(entry.get("digest")))
        fetched = await source.manifest(name, str(digest))
        referrer = parse_manifest(fetched.body, fetched.media_type or None)
        await _copy_manifest(source, name, target, referrer, report, progress)


async def _copy_blob(
    source: UpstreamClient,
    name: str,
    target: Repository,
    digest: Digest,
    report: SyncReport,
    progress: Progress,
) -> None:
    try:
        await target.blobs.stat(digest)
        return
    except BlobUnknown:
        pass
    async with source.blob(name, digest) as response:
        descriptor = await target.uploads.upload(digest, response.aiter_bytes())
    report.blobs += 1
    report.bytes += descriptor.size
    progress(f"  {name}: {digest} ({descriptor.size} bytes)")
