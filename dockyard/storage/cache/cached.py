"""The per-repository blob look-ups, decorated with a repository-scoped cache.

``CachedLinkedBlobStore`` is a ``LinkedBlobStore`` whose ``stat`` (and so ``open`` and
the manifest store's reference checks) answers from the cache when it can, and whose
unlinks invalidate the cache, before and after the link is removed so that a concurrent
look-up racing the delete cannot leave a stale entry behind for long. The registry-wide
descriptor part is consulted by ``GlobalBlobStore`` itself.
"""

from __future__ import annotations

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.errors import BlobUnknown
from dockyard.storage.blobs import GlobalBlobStore, LinkedBlobStore
from dockyard.storage.cache.base import BlobDescriptorCache, RepositoryBlobCache
from dockyard.storage.protocols import BlobContent


def linked_blob_store(name: str, store: GlobalBlobStore) -> LinkedBlobStore:
    """Repository ``name``'s blob store: cached when ``store``'s cache can hold links."""
    cache = store.cache
    if isinstance(cache, BlobDescriptorCache):
        scoped = cache.repository(name)
        if scoped is not None:
            return CachedLinkedBlobStore(name, store, scoped)
    return LinkedBlobStore(name, store)


class CachedLinkedBlobStore(LinkedBlobStore):
    """A repository's blobs, with link look-ups answered from ``cache`` when present."""

    def __init__(self, name: str, store: GlobalBlobStore, cache: RepositoryBlobCache) -> None:
        super().__init__(name, store)
        self.cache = cache

    async def stat(self, digest: Digest) -> Descriptor:
        """The descriptor from the cache, else from storage (and then cached)."""
        cached = await self.cache.get(digest)
        if cached is not None:
            return cached
        descriptor = await super().stat(digest)
        await self.cache.set(descriptor)
        return descriptor

    async def is_linked(self, digest: Digest) -> bool:
        """Whether the blob is linked here: a cache hit, else the link file."""
        if await self.cache.get(digest) is not None:
            return True
        return await super().is_linked(digest)

    async def open(
        self,
        digest: Digest,
        offset: int = 0,
        length: int | None = None,
        *,
        allow_redirect: bool = False,
        method: str = "GET",
    ) -> BlobContent:
        """How to send the blob; an entry whose content turns out gone is forgotten."""
        await self.stat(digest)
        try:
            return await self.store.open(
                digest, offset, length, allow_redirect=allow_redirect, method=method
            )
        except BlobUnknown:
            await self._forget(digest)
            raise

    async def delete(self, digest: Digest) -> None:
        """Unlink the blob, invalidating the cache around the unlink."""
        await self.cache.clear(digest)
        try:
            await super().delete(digest)
        finally:
            await self.cache.clear(digest)

    async def _forget(self, digest: Digest) -> None:
        await self.cache.clear(digest)
        if self.store.cache is not None:
            await self.store.cache.clear(digest)
