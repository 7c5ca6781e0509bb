"""A bounded in-process blob-descriptor cache (least recently used entries go first).

The reference registry's in-memory cache grows without bound and has run registries out
of memory; this one keeps at most ``size`` descriptors (``storage.cache.blobdescriptorsize``).

It caches only registry-wide descriptors, never repository links. Content under a digest
never changes, so another process can make an entry stale only by deleting the content
(garbage collection), which the blob store notices when it reads the data. A link,
though, is removed by any ``DELETE`` on any worker or instance, which this process's
memory would not hear of; links are therefore always read from storage.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.storage.cache.base import RepositoryBlobCache

#: ``storage.cache.blobdescriptorsize`` when the configuration does not set it.
DEFAULT_SIZE: Final = 10000


class MemoryBlobDescriptorCache:
    """At most ``size`` descriptors by digest, evicting the least recently used."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        if size < 1:
            raise ValueError("a memory cache must hold at least one entry")
        self.size = size
        self._entries: OrderedDict[Digest, Descriptor] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, digest: Digest) -> Descriptor | None:
        """The cached descriptor (now the most recently used), or None."""
        descriptor = self._entries.get(digest)
        if descriptor is not None:
            self._entries.move_to_end(digest)
        return descriptor

    async def set(self, descriptor: Descriptor) -> None:
        """Remember a descriptor, evicting the least recently used beyond ``size``."""
        self._entries[descriptor.digest] = descriptor
        self._entries.move_to_end(descriptor.digest)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    async def clear(self, digest: Digest) -> None:
        """Forget a digest."""
        self._entries.pop(digest, None)

    def repository(self, name: str) -> RepositoryBlobCache | None:
        """None: links are not cached in process memory (see the module's docstring)."""
        return None

    async def close(self) -> None:
        """Drop every entry."""
        self._entries.clear()
