"""A bounded in-process blob-descriptor cache (least recently used entries go first).

The reference registry's in-memory cache grows without bound and has run registries out
of memory; this one keeps at most ``size`` descriptors (``storage.cache.blobdescriptorsize``)
and at most ``max_bytes`` of memory (8 MiB unless told otherwise): each entry is charged
what it holds (``deep_size``), since a descriptor's annotations can make it any size.

It caches only registry-wide descriptors, never repository links. Content under a digest
never changes, so another process can make an entry stale only by deleting the content
(garbage collection), which the blob store notices when it reads the data. A link,
though, is removed by any ``DELETE`` on any worker or instance, which this process's
memory would not hear of; links are therefore always read from storage.
"""

from __future__ import annotations

from typing import Final

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.lru import ByteBoundedLRU, charge
from dockyard.storage.cache.base import RepositoryBlobCache

#: ``storage.cache.blobdescriptorsize`` when the configuration does not set it.
DEFAULT_SIZE: Final = 10000
#: Memory the entries may hold in all.
DEFAULT_MAX_BYTES: Final = 8 << 20


class MemoryBlobDescriptorCache:
    """At most ``size`` descriptors by digest, holding at most ``max_bytes``, evicting
    the least recently used."""

    def __init__(self, size: int = DEFAULT_SIZE, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if size < 1:
            raise ValueError("a memory cache must hold at least one entry")
        self.size = size
        self.max_bytes = max_bytes
        self._entries: ByteBoundedLRU[Digest, Descriptor] = ByteBoundedLRU(
            max_bytes, max_entries=size
        )

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def charged_bytes(self) -> int:
        """The memory the entries hold, as charged against ``max_bytes``."""
        return self._entries.charged_bytes

    async def get(self, digest: Digest) -> Descriptor | None:
        """The cached descriptor (now the most recently used), or None."""
        return self._entries.get(digest)

    async def set(self, descriptor: Descriptor) -> None:
        """Remember a descriptor, evicting the least recently used beyond the bounds."""
        self._entries.put(descriptor.digest, descriptor, charge(descriptor))

    async def clear(self, digest: Digest) -> None:
        """Forget a digest."""
        self._entries.pop(digest)

    def repository(self, name: str) -> RepositoryBlobCache | None:
        """None: links are not cached in process memory (see the module's docstring)."""
        return None

    async def close(self) -> None:
        """Drop every entry."""
        self._entries.clear()
