"""``dockyard sync``: copy repositories and tags of another registry into this one.

Reads the source through ``UpstreamClient`` (its Basic or token authentication and rate
limit), waiting out a 429's ``Retry-After`` (``patience.py``), and writes through the
registry's services, as a push would: blobs through the verified upload path, child
manifests before their index, referrers after their subject, the tag last. What is
there already is skipped (a tag pointing at the same digest, a blob linked already), so
an interrupted sync resumes where it stopped; the referrers of a tag that is current are
still asked for, so that a signature added at the source since the last run is copied
too.

With a platform filter, an index is copied with only the children of those platforms
(and their blobs), and stored as it is, byte for byte: its digest stays the source's, so
pins by digest and signatures of it hold, and pulls of a copied platform work; a pull of
another platform finds its child manifest unknown (``MANIFEST_UNKNOWN``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.errors import BlobUnknown, ManifestUnknown, TagUnknown
from dockyard.manifest import Manifest, parse_manifest
from dockyard.manifest.policy import storing_sparse
from dockyard.proxy.client import UpstreamClient
from dockyard.storage.protocols import Registry, Repository
from dockyard.sync.patience import patiently
from dockyard.sync.platforms import PlatformFilter
from dockyard.sync.semver import VersionRange

T = TypeVar("T")

#: Called with a message per tag (and per blob) copied, for a progress display.
Progress = Callable[[str], None]
#: Called while a blob is copied, with its label, the bytes copied and its size (0 when
#: the source did not say), for a progress line on a terminal.
Transfer = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class SyncFilter:
    """Which repositories and tags of the source to copy."""

    repositories: tuple[str, ...] = ()
    prefix: str = ""
    tags: re.Pattern[str] | None = None
    versions: VersionRange | None = None
    platforms: PlatformFilter = field(default_factory=PlatformFilter)

    def wants_repository(self, name: str) -> bool:
        """Whether the repository is ``prefix`` or below it, path component by path
        component (``team`` selects ``team/app``, not ``teamwork/app``)."""
        base = self.prefix.rstrip("/")
        return not base or name == base or name.startswith(base + "/")

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
    transfer: Transfer | None = None,
) -> SyncReport:
    """Copy every selected repository and tag of ``source`` into ``registry``; ``transfer``
    is told how far each blob's copy got."""
    report = SyncReport()
    names = list(selection.repositories) or await patiently(source, source.catalog)
    copying = _Copying(source, selection.platforms, report, progress, transfer or _unshown)
    for name in names:
        if not selection.wants_repository(name):
            continue
        target = registry.repository(name)
        tags = await patiently(source, functools.partial(source.tags, name))
        for tag in sorted(tags):
            if selection.wants_tag(tag):
                await copying.tag(name, target, tag)
    return report


def _unshown(label: str, done: int, total: int) -> None:
    """A ``Transfer`` that shows nothing."""


@dataclass(slots=True)
class _Copying:
    """One sync's copying: from ``source``, the children ``platforms`` selects, counted in
    ``report`` and shown through ``progress`` and ``transfer``."""

    source: UpstreamClient
    platforms: PlatformFilter
    report: SyncReport
    progress: Progress
    transfer: Transfer

    async def tag(self, name: str, target: Repository, tag: str) -> None:
        """Copy what ``tag`` names at the source, then point the tag at it."""
        remote = await self._ask(lambda: self.source.head_manifest(name, tag))
        if remote.digest is not None and await self._current(target, tag, remote.digest):
            # Signatures and SBOMs are added to an image after it is pushed: ask for them.
            stored = await target.manifests.get(remote.digest)
            await self.manifest(name, target, stored)
            self.report.tags_current.append(f"{name}:{tag}")
            return
        manifest = await self._manifest(name, tag)
        await self.manifest(name, target, manifest)
        await target.tags.tag(tag, manifest.digest)
        self.report.tags_copied.append(f"{name}:{tag}")
        self.progress(f"{name}:{tag} {manifest.digest}")

    async def _current(self, target: Repository, tag: str, digest: Digest) -> bool:
        """Whether the tag points at ``digest`` here already, with every child the platform
        filter selects (a filter widened since the last run selects more)."""
        try:
            if await target.tags.resolve(tag) != digest:
                return False
        except TagUnknown:
            return False
        if not self.platforms:
            return True
        stored = await target.manifests.get(digest)
        for child in self.platforms.children(stored.manifests):
            if not await _stored(target, child.digest):
                return False
        return True

    async def manifest(self, name: str, target: Repository, manifest: Manifest) -> None:
        """Copy a manifest with what it references (of an index, the children the
        platform filter selects), then its referrers."""
        stored = await _stored(target, manifest.digest)
        children = self.platforms.children(manifest.manifests)
        # A stored index may lack children a wider filter selects now.
        if not stored or (self.platforms and manifest.is_index):
            for child in children:
                if stored and await _stored(target, child.digest):
                    continue
                await self.manifest(name, target, await self._manifest(name, str(child.digest)))
        if not stored:
            for descriptor in manifest.blob_references:
                await self._blob(name, target, descriptor.digest)
            with storing_sparse(child.digest for child in children):
                await target.manifests.put(manifest.body, manifest.media_type, manifest.digest)
            self.report.manifests += 1
        referrers = await self._ask(lambda: self.source.referrers(name, manifest.digest))
        for entry in referrers or []:
            digest = Digest.parse(str(entry.get("digest")))
            await self.manifest(name, target, await self._manifest(name, str(digest)))

    async def _blob(self, name: str, target: Repository, digest: Digest) -> None:
        try:
            await target.blobs.stat(digest)
            return
        except BlobUnknown:
            pass
        label = f"{name}: {digest}"

        async def download() -> Descriptor:
            async with self.source.blob(name, digest) as response:
                total = int(response.headers.get("content-length") or 0)
                counted = self._counted(label, response.aiter_bytes(), total)
                return await target.uploads.upload(digest, counted)

        descriptor = await self._ask(download)
        self.report.blobs += 1
        self.report.bytes += descriptor.size
        self.progress(f"  {label} ({descriptor.size} bytes)")

    async def _ask(self, request: Callable[[], Awaitable[T]]) -> T:
        """``request()`` of the source, waiting out its 429s."""
        return await patiently(self.source, request)

    async def _manifest(self, name: str, reference: str) -> Manifest:
        """The manifest ``reference`` names at the source, parsed."""
        fetched = await self._ask(lambda: self.source.manifest(name, reference))
        return parse_manifest(fetched.body, fetched.media_type or None)

    async def _counted(
        self, label: str, chunks: AsyncIterator[bytes], total: int
    ) -> AsyncIterator[bytes]:
        """``chunks``, telling ``transfer`` how many bytes have gone by."""
        done = 0
        self.transfer(label, done, total)
        async for chunk in chunks:
            yield chunk
            done += len(chunk)
            self.transfer(label, done, total)


async def _stored(target: Repository, digest: Digest) -> bool:
    try:
        await target.manifests.stat(digest)
    except ManifestUnknown:
        return False
    return True
