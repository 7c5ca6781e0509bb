"""The blob-descriptor cache as a decorator of a repository's ``Blobs``.

``cached_blobs`` wraps a repository's blob store when the registry's cache can hold
links (a cache every instance shares: Redis). The decorator answers ``stat`` from the
cache when it can, sends ``open`` to storage (the truth: content the cache still names
may be gone, and is then forgotten), and invalidates around unlinks, before and after
the link is removed, so that a look-up racing the delete cannot leave a stale entry
behind for long. The registry-wide descriptor part is consulted by ``GlobalBlobStore``.
"""

from __future__ import annotations

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.errors import BlobUnknown
from dockyard.storage.cache.base import BlobDescriptorCache, RepositoryBlobCache
from dockyard.storage.protocols import BlobContent, Blobs


def cached_blobs(name: str, blobs: Blobs, cache: BlobDescriptorCache | None) -> Blobs:
    """Repository ``name``'s ``blobs``, decorated when ``cache`` can hold its links."""
    scoped = cache.repository(name) if cache is not None else None
    if cache is None or scoped is None:
        return blobs
    return CachedBlobs(blobs, scoped, cache)


class CachedBlobs:
    """A repository's ``Blobs`` whose link look-ups are answered from ``cache`` when present
    (implements ``protocols.Blobs``)."""

    def __init__(self, inner: Blobs, cache: RepositoryBlobCache, shared: BlobDescriptorCache):
        self.inner = inner
        self.cache = cache
        self.shared = shared

    async def stat(self, digest: Digest) -> Descriptor:
        """The descriptor from the cache, else from storage (and then cached)."""
        cached = await self.cache.get(digest)
        if cached is not None:
            return cached
        descriptor = await self.inner.stat(digest)
        await self.cache.set(descriptor)
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
        """How to send the blob, from storage; an entry whose blob is gone is forgotten."""
        try:
            return await self.inner.open(
                digest, offset, length, allow_redirect=allow_redirect, method=method
            )
        except BlobUnknown:
            await self.cache.clear(digest)
            await self.shared.clear(digest)
            raise

    async def put(self, data: bytes, media_type: str = "application/octet-stream") -> Descriptor:
        """Store and link a small blob (nothing to invalidate: links only get added)."""
        return await self.inner.put(data, media_type)

    async def mount(self, digest: Digest, source: str) -> Descriptor:
        """Link a blob of repository ``source`` (checked in storage, where it is true)."""
        return await self.inner.mount(digest, source)

    async def delete(self, digest: Digest) -> None:
        """Unlink the blob, invalidating the cache around the unlink."""
        await self.cache.clear(digest)
        try:
            await self.inner.delete(digest)
        finally:
            await self.cache.clear(digest)
