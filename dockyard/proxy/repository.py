"""A proxied repository: the store's services, filled from the upstream on a miss.

``ProxyRepository`` decorates one ``protocols.Repository``. Reads are answered from the
store when it holds the content; what it lacks is fetched from the upstream, stored
through the store's own paths (blobs through ``Uploads.upload``, manifests through
``Manifests.put``, so both are verified before they are linked) and recorded in the
proxy's state. Tags are trusted for the upstream's TTL, then revalidated with a HEAD;
when the upstream cannot answer (unreachable, 429), the cached copy is served. Every
write a client attempts is refused with ``UNSUPPORTED``: the upstream owns the content.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final, NoReturn, TypeVar

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.errors import (
    BlobUnknown,
    DigestInvalid,
    DockyardError,
    ManifestBlobUnknown,
    ManifestUnknown,
    StorageUnavailable,
    TagUnknown,
    TooManyRequests,
    Unsupported,
)
from dockyard.manifest import Manifest, parse_manifest
from dockyard.proxy.client import (
    UpstreamClient,
    UpstreamDenied,
    UpstreamNotFound,
    UpstreamUnavailable,
)
from dockyard.proxy.fetch import BlobFetch, stream_from, teed
from dockyard.proxy.state import ProxyState
from dockyard.storage.protocols import (
    BlobContent,
    Blobs,
    Manifests,
    Page,
    Referrers,
    Repository,
    TagRecord,
    Tags,
    UploadStatus,
)
from dockyard.sync.content import content_chunks

if TYPE_CHECKING:
    from dockyard.proxy.registry import ProxyRegistry

logger = logging.getLogger("dockyard.proxy")

OCTET_STREAM: Final = "application/octet-stream"
#: Blobs from this size on are sent to the first client as they arrive; smaller ones
#: are sent once stored and verified, so a failure gets an error response of its own.
STREAM_MIN_SIZE: Final = 1024 * 1024
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Route:
    """Which upstream serves a repository, and its name there."""

    client: UpstreamClient
    remote: str

    @property
    def ttl(self) -> timedelta:
        return self.client.config.ttl


def _unavailable(error: UpstreamUnavailable) -> NoReturn:
    """The client-facing error for an upstream that cannot answer and nothing cached."""
    if error.rate_limited:
        raise TooManyRequests(error.message) from None
    raise StorageUnavailable(error.message) from None


def _refused(name: str, route: Route) -> Unsupported:
    return Unsupported(
        f"repository {name} is a pull-through cache of upstream {route.client.name}: "
        "pushes and deletes are refused"
    )


class ProxyRepository:
    """One proxied repository (implements ``protocols.Repository``)."""

    def __init__(self, inner: Repository, route: Route, registry: ProxyRegistry) -> None:
        self.inner = inner
        self.route = route
        self.registry = registry
        self.state = ProxyState(registry.driver, inner.name)
        self._blobs = ProxyBlobs(self)
        self._manifests = ProxyManifests(self)
        self._tags = ProxyTags(self)
        self._uploads = RefusedUploads(self)
        self._referrers = ProxyReferrers(self)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def blobs(self) -> ProxyBlobs:
        return self._blobs

    @property
    def uploads(self) -> RefusedUploads:
        return self._uploads

    @property
    def manifests(self) -> ProxyManifests:
        return self._manifests

    @property
    def tags(self) -> ProxyTags:
        return self._tags

    @property
    def referrers(self) -> ProxyReferrers:
        return self._referrers

    async def exists(self) -> bool:
        return await self.inner.exists() or await self.state.exists()

    async def hit(self) -> None:
        """A pull used the cache: its TTL starts again (written at most every few seconds)."""
        await self.registry.touch(self)

    def refused(self) -> Unsupported:
        return _refused(self.name, self.route)


class ProxyBlobs:
    """The repository's blobs, fetched from the upstream when missing."""

    def __init__(self, repository: ProxyRepository) -> None:
        self.repository = repository
        self.inner: Blobs = repository.inner.blobs

    async def stat(self, digest: Digest) -> Descriptor:
        try:
            descriptor = await self.inner.stat(digest)
        except BlobUnknown:
            if await self.link(digest):
                return await self.inner.stat(digest)
            route = self.repository.route
            try:
                remote = await route.client.head_blob(route.remote, digest)
            except (UpstreamNotFound, UpstreamDenied):
                raise BlobUnknown(f"blob {digest} is unknown to the registry") from None
            except UpstreamUnavailable as error:
                _unavailable(error)
            return Descriptor(OCTET_STREAM, digest, remote.size)
        await self.repository.hit()
        return descriptor

    async def open(
        self,
        digest: Digest,
        offset: int = 0,
        length: int | None = None,
        *,
        allow_redirect: bool = False,
        method: str = "GET",
    ) -> BlobContent:
        async def local() -> BlobContent:
            return await self.inner.open(
                digest, offset, length, allow_redirect=allow_redirect, method=method
            )

        try:
            content = await local()
        except BlobUnknown:
            pass
        else:
            await self.repository.hit()
            return content
        if await self.link(digest):
            return await local()
        fetch = self.fetch(digest)
        subscriber = fetch.subscribe() if offset == 0 and length is None else None
        try:
            size = await _upstream_errors(fetch.started)
            if subscriber is None or size is None or size < STREAM_MIN_SIZE:
                if subscriber is not None:
                    fetch.unsubscribe(subscriber)
                    subscriber = None
                await _upstream_errors(fetch.done)
                await self.link(digest)
                return await local()
        except BaseException:
            if subscriber is not None:
                fetch.unsubscribe(subscriber)
            raise

        async def resume(at: int) -> AsyncIterator[bytes]:
            return content_chunks(await self.inner.open(digest, at), at)

        stream = stream_from(fetch, subscriber, resume)
        return BlobContent(Descriptor(OCTET_STREAM, digest, size), stream=stream)

    async def link(self, digest: Digest) -> bool:
        """Link the blob from a repository it was fetched into already, if any still has it."""
        if self.repository.registry.read_only:
            return False
        source = await self.repository.state.blob_source(digest)
        if source is None or source == self.repository.name:
            return False
        try:
            await self.inner.mount(digest, source)
        except BlobUnknown:
            return False
        await self.repository.state.note_blob(digest)
        return True

    def fetch(self, digest: Digest) -> BlobFetch:
        """The download of the blob into this repository (shared with running ones)."""
        repository = self.repository
        route = repository.route

        async def present() -> bool:
            try:
                await self.inner.stat(digest)
            except BlobUnknown:
                return await self.link(digest)
            return True

        async def download(
            started: Callable[[int], None], send: Callable[[bytes], Awaitable[None]]
        ) -> Descriptor:
            repository.registry.refuse_if_read_only()
            async with route.client.blob(route.remote, digest) as response:
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit():
                    started(int(declared))

                # As read (no re-chunking copies); the store gathers them into batches.
                encoding = response.headers.get("content-encoding", "identity")
                body = response.aiter_raw() if encoding == "identity" else response.aiter_bytes()
                # Closed here on any failure: its reader stops before the response closes.
                async with contextlib.aclosing(teed(body, send)) as chunks:
                    descriptor = await repository.inner.uploads.upload(digest, chunks)
            await repository.state.note_blob(digest)
            await repository.hit()
            logger.info(
                "proxy: fetched %s into %s from %s", digest, repository.name, route.client.name
            )
            return descriptor

        key = f"blob\0{route.client.name}\0{digest}"
        return repository.registry.fetches.fetch(key, present, download)

    async def ensure(self, digest: Digest) -> None:
        """Have the blob stored and linked here, fetching it if need be."""
        try:
            await self.inner.stat(digest)
            return
        except BlobUnknown:
            pass
        if await self.link(digest):
            return
        fetch = self.fetch(digest)
        await _upstream_errors(fetch.done)
        with contextlib.suppress(BlobUnknown):
            await self.inner.stat(digest)
            return
        if not await self.link(digest):
            raise BlobUnknown(f"blob {digest} could not be fetched")

    async def put(self, data: bytes, media_type: str = OCTET_STREAM) -> Descriptor:
        raise self.repository.refused()

    async def mount(self, digest: Digest, source: str) -> Descriptor:
        raise self.repository.refused()

    async def delete(self, digest: Digest) -> None:
        raise self.repository.refused()


async def _upstream_errors(awaitable: Awaitable[T]) -> T:
    """``awaitable``'s result, upstream failures turned into the client's errors."""
    try:
        return await awaitable
    except (UpstreamNotFound, UpstreamDenied) as error:
        raise BlobUnknown(f"blob unknown to upstream: {error.message}") from None
    except UpstreamUnavailable as error:
        _unavailable(error)
    except DigestInvalid:
        raise StorageUnavailable(
            "the upstream sent content that does not match its digest; nothing was kept"
        ) from None


class ProxyManifests:
    """The repository's manifests: by tag through the TTL, by digest from the store first."""

    def __init__(self, repository: ProxyRepository) -> None:
        self.repository = repository
        self.inner: Manifests = repository.inner.manifests

    async def get(self, reference: Digest | str) -> Manifest:
        repository = self.repository
        if isinstance(reference, Digest):
            manifest = await self.by_digest(reference)
            await repository.hit()
            return manifest
        record = await repository.state.tag(reference)
        route = repository.route
        client = route.client
        fresh = record is not None and time.time() - record.checked < route.ttl.total_seconds()
        if record is not None and (fresh or repository.registry.read_only):
            manifest = await self.by_digest(record.digest)
            await repository.hit()
            return manifest
        repository.registry.refuse_if_read_only()
        try:
            if record is not None:
                remote = await client.head_manifest(route.remote, reference)
                if remote.digest == record.digest:
                    await repository.state.set_tag(reference, record.digest)
                    manifest = await self.by_digest(record.digest)
                    await repository.hit()
                    return manifest
            fetched = await repository.registry.once(
                f"manifest\0{client.name}\0{route.remote}\0{reference}",
                lambda: client.manifest(route.remote, reference),
            )
        except UpstreamUnavailable as error:
            if record is None:
                _unavailable(error)
            logger.warning(
                "proxy: %s; serving %s:%s from the cache", error.message, repository.name, reference
            )
            manifest = await self.by_digest(record.digest)
            await repository.hit()
            return manifest
        except (UpstreamNotFound, UpstreamDenied):
            raise TagUnknown(f"tag {reference!r} is unknown to the registry") from None
        manifest = await self.keep(fetched.body, fetched.media_type)
        await repository.state.set_tag(reference, manifest.digest)
        await repository.hit()
        repository.registry.complete(repository, manifest, reference)
        return manifest

    async def stat(self, reference: Digest | str) -> Descriptor:
        manifest = await self.get(reference)
        return Descriptor(manifest.media_type, manifest.digest, len(manifest.body))

    async def by_digest(self, digest: Digest) -> Manifest:
        """The manifest from the store, the proxy's records, or the upstream, in that order."""
        repository = self.repository
        with contextlib.suppress(ManifestUnknown):
            return await self.inner.get(digest)
        recorded = await repository.state.manifest(digest)
        if recorded is not None:
            media_type, body = recorded
            manifest = await asyncio.to_thread(parse_manifest, body, media_type or None)
            repository.registry.complete(repository, manifest, None)
            return manifest
        route = repository.route
        repository.registry.refuse_if_read_only()
        try:
            fetched = await repository.registry.once(
                f"manifest\0{route.client.name}\0{route.remote}\0{digest}",
                lambda: route.client.manifest(route.remote, str(digest)),
            )
        except (UpstreamNotFound, UpstreamDenied):
            raise ManifestUnknown(f"manifest {digest} is unknown to the registry") from None
        except UpstreamUnavailable as error:
            _unavailable(error)
        manifest = await self.keep(fetched.body, fetched.media_type)
        repository.registry.complete(repository, manifest, None)
        return manifest

    async def keep(self, body: bytes, media_type: str) -> Manifest:
        """Parse a manifest the upstream sent and record it, to be stored once complete."""
        manifest = await asyncio.to_thread(parse_manifest, body, media_type or None)
        await self.repository.state.put_manifest(manifest.digest, manifest.media_type, body)
        return manifest

    async def complete(self, manifest: Manifest, tag: str | None) -> bool:
        """Store the manifest in the store once what it references is there.

        An image manifest's blobs are fetched (joining any download a client started);
        an index is stored once each of its manifests is. Returns whether it is stored.
        """
        repository = self.repository
        with contextlib.suppress(ManifestUnknown):
            await self.inner.stat(manifest.digest)
            await self._tag(manifest.digest, tag)
            return True
        if not manifest.is_index:
            for descriptor in manifest.blob_references:
                await repository.blobs.ensure(descriptor.digest)
        try:
            await self.inner.put(manifest.body, manifest.media_type, manifest.digest)
        except ManifestBlobUnknown:
            return False
        await self._tag(manifest.digest, tag)
        return True

    async def _tag(self, digest: Digest, tag: str | None) -> None:
        if tag is None:
            return
        record = await self.repository.state.tag(tag)
        if record is not None and record.digest == digest:
            await self.repository.inner.tags.tag(tag, digest)

    async def put(
        self, body: bytes, media_type: str | None, expected: Digest | None = None
    ) -> Manifest:
        raise self.repository.refused()

    async def delete(self, digest: Digest) -> None:
        raise self.repository.refused()


class ProxyTags:
    """The repository's tags: the upstream's list, or the cached ones when it is away."""

    def __init__(self, repository: ProxyRepository) -> None:
        self.repository = repository
        self.inner: Tags = repository.inner.tags

    async def resolve(self, tag: str) -> Digest:
        record = await self.repository.state.tag(tag)
        if record is not None:
            return record.digest
        return await self.inner.resolve(tag)

    async def list(self, last: str | None = None, n: int | None = None) -> Page:
        route = self.repository.route
        try:
            names = await route.client.tags(route.remote)
        except UpstreamUnavailable:
            names = await self.repository.state.tags()
        except (UpstreamNotFound, UpstreamDenied):
            names = []
        ordered = sorted(set(names))
        if last is not None:
            ordered = [t for t in ordered if t > last]
        if n is None:
            return Page(ordered, False)
        return Page(ordered[:n], len(ordered) > n)

    async def lookup(self, digest: Digest) -> builtins.list[str]:
        return await self.inner.lookup(digest)

    async def describe(self, tags: Sequence[str]) -> builtins.list[TagRecord]:
        return await self.inner.describe(tags)

    async def tag(self, tag: str, digest: Digest) -> None:
        raise self.repository.refused()

    async def untag(self, tag: str) -> None:
        raise self.repository.refused()


class ProxyReferrers:
    """The referrers of a subject: the upstream's, when it has the API, and those stored."""

    def __init__(self, repository: ProxyRepository) -> None:
        self.repository = repository
        self.inner: Referrers = repository.inner.referrers

    async def list(
        self, subject: Digest, artifact_type: str | None = None
    ) -> builtins.list[Descriptor]:
        stored = await self.inner.list(subject, artifact_type)
        route = self.repository.route
        try:
            remote = await route.client.referrers(route.remote, subject)
        except (UpstreamUnavailable, UpstreamDenied):
            return stored
        if remote is None:
            return stored
        listed = {descriptor.digest: descriptor for descriptor in stored}
        for entry in remote:
            descriptor = _descriptor(entry)
            if descriptor is None or descriptor.digest in listed:
                continue
            if artifact_type is None or descriptor.artifact_type == artifact_type:
                listed[descriptor.digest] = descriptor
        return builtins.list(listed.values())

    async def rebuild(self) -> int:
        return await self.inner.rebuild()


def _descriptor(entry: dict[str, Any]) -> Descriptor | None:
    """A descriptor of an upstream's referrers index, or None if it is malformed."""
    try:
        digest = Digest.parse(str(entry["digest"]))
        size = entry["size"]
        media_type = entry["mediaType"]
    except (KeyError, DockyardError):
        return None
    if not isinstance(size, int) or not isinstance(media_type, str):
        return None
    artifact_type = entry.get("artifactType")
    annotations = entry.get("annotations")
    return Descriptor(
        media_type,
        digest,
        size,
        artifact_type if isinstance(artifact_type, str) else None,
        annotations if isinstance(annotations, dict) else None,
    )


class RefusedUploads:
    """Uploads into a proxied repository: every one refused with ``UNSUPPORTED``."""

    def __init__(self, repository: ProxyRepository) -> None:
        self.repository = repository

    async def create(self) -> UploadStatus:
        raise self.repository.refused()

    async def status(self, upload_id: str) -> UploadStatus:
        raise self.repository.refused()

    async def append(
        self, upload_id: str, offset: int, chunks: AsyncIterable[bytes]
    ) -> UploadStatus:
        raise self.repository.refused()

    async def commit(
        self,
        upload_id: str,
        digest: Digest,
        size: int | None = None,
        final_chunks: AsyncIterable[bytes] | None = None,
    ) -> Descriptor:
        raise self.repository.refused()

    async def upload(
        self, digest: Digest, chunks: AsyncIterable[bytes] | None = None
    ) -> Descriptor:
        raise self.repository.refused()

    async def cancel(self, upload_id: str) -> None:
        raise self.repository.refused()

    async def purge(self, older_than: timedelta) -> int:
        return 0
