"""``dockyard sync``: copy repositories and tags of another registry into this one.

Reads the source through ``UpstreamClient`` (its Basic or token authentication, rate
limit and back-off) and writes through the registry's services, as a push would: blobs
through the verified upload path, child manifests before their index, referrers after
their subject, the tag last. What is there already is skipped (a tag pointing at the
same digest, a blob linked already), so an interrupted sync resumes where it stopped;
the referrers of a tag that is current are still asked for, so that a signature added
at the source since the last run is copied too.

With a platform filter, an index is copied with only the children of those platforms
(and their blobs), and stored as it is, byte for byte: its digest stays the source's, so
pins by digest and signatures of it hold, and pulls of a copied platform work; a pull of
another platform finds its child manifest unknown (``MANIFEST_UNKNOWN``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dockyard.digest import Digest
from dockyard.errors import BlobUnknown, ManifestUnknown, TagUnknown
from dockyard.manifest import Manifest, parse_manifest
from dockyard.manifest.policy import storing_sparse
from dockyard.proxy.client import UpstreamClient
from dockyard.storage.protocols import Registry, Repository
from dockyard.sync.platforms import PlatformFilter
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
    platforms: PlatformFilter = field(default_factory=PlatformFilter)

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
                await _sync_tag(source, name, target, tag, selection.platforms, report, progress)
    return report


async def _sync_tag(
    source: UpstreamClient,
    name: str,
    target: Repository,
    tag: str,
    platforms: PlatformFilter,
    report: SyncReport,
    progress: Progress,
) -> None:
    remote = await source.head_manifest(name, tag)
    if remote.digest is not None and await _current(target, tag, remote.digest, platforms):
        # Signatures and SBOMs are added to an image after it is pushed: ask for them.
        stored = await target.manifests.get(remote.digest)
        await _copy_manifest(source, name, target, stored, platforms, report, progress)
        report.tags_current.append(f"{name}:{tag}")
        return
    fetched = await source.manifest(name, tag)
    manifest = parse_manifest(fetched.body, fetched.media_type or None)
    await _copy_manifest(source, name, target, manifest, platforms, report, progress)
    await target.tags.tag(tag, manifest.digest)
    report.tags_copied.append(f"{name}:{tag}")
    progress(f"{name}:{tag} {manifest.digest}")


async def _current(target: Repository, tag: str, digest: Digest, platforms: PlatformFilter) -> bool:
    """Whether the tag points at ``digest`` here already, with every child the platform
    filter selects (a filter widened since the last run selects more)."""
    try:
        if await target.tags.resolve(tag) != digest:
            return False
    except TagUnknown:
        return False
    if not platforms:
        return True
    stored = await target.manifests.get(digest)
    for child in platforms.children(stored.manifests):
        if not await _stored(target, child.digest):
            return False
    return True


async def _stored(target: Repository, digest: Digest) -> bool:
    try:
        await target.manifests.stat(digest)
    except ManifestUnknown:
        return False
    return True


async def _copy_manifest(
    source: UpstreamClient,
    name: str,
    target: Repository,
    manifest: Manifest,
    platforms: PlatformFilter,
    report: SyncReport,
    progress: Progress,
) -> None:
    """Copy a manifest with what it references (of an index, the children ``platforms``
    selects), then its referrers."""
    stored = await _stored(target, manifest.digest)
    children = platforms.children(manifest.manifests)
    # A stored index may lack children a wider filter selects now.
    if not stored or (platforms and manifest.is_index):
        for child in children:
            if stored and await _stored(target, child.digest):
                continue
            fetched = await source.manifest(name, str(child.digest))
            child_manifest = parse_manifest(fetched.body, fetched.media_type or None)
            await _copy_manifest(source, name, target, child_manifest, platforms, report, progress)
    if not stored:
        for descriptor in manifest.blob_references:
            await _copy_blob(source, name, target, descriptor.digest, report, progress)
        with storing_sparse(child.digest for child in children):
            await target.manifests.put(manifest.body, manifest.media_type, manifest.digest)
        report.manifests += 1
    for entry in await source.referrers(name, manifest.digest) or []:
        digest = Digest.parse(str(entry.get("digest")))
        fetched = await source.manifest(name, str(digest))
        referrer = parse_manifest(fetched.body, fetched.media_type or None)
        await _copy_manifest(source, name, target, referrer, platforms, report, progress)


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
