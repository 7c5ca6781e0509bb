"""Blob-descriptor caches (``storage.cache.blobdescriptor``): in memory or in Redis.

``dockyard.assembly.build_cache`` builds the one the configuration asks for and hands it
to ``StorageRegistry(driver, blob_descriptor_cache=…)``.
"""

from __future__ import annotations

from dockyard.storage.cache.base import BlobDescriptorCache, RepositoryBlobCache
from dockyard.storage.cache.memory import MemoryBlobDescriptorCache

__all__ = [
    "BlobDescriptorCache",
    "MemoryBlobDescriptorCache",
    "RepositoryBlobCache",
]
