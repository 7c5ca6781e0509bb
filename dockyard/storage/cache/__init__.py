"""Blob-descriptor caches (``storage.cache.blobdescriptor``): in memory or in Redis.

``from_config`` builds the one the configuration asks for; ``dockyard serve`` hands it
to ``StorageRegistry(driver, blob_descriptor_cache=…)``.
"""

from __future__ import annotations

from dockyard.config import Config, ConfigError
from dockyard.storage.cache.base import BlobDescriptorCache, RepositoryBlobCache
from dockyard.storage.cache.memory import MemoryBlobDescriptorCache

__all__ = [
    "BlobDescriptorCache",
    "MemoryBlobDescriptorCache",
    "RepositoryBlobCache",
    "from_config",
]


def from_config(config: Config) -> BlobDescriptorCache | None:
    """The cache ``storage.cache`` configures, or None when it configures none."""
    settings = config.storage.cache
    if settings.blobdescriptor is None:
        return None
    if settings.blobdescriptor == "redis":
        if config.redis is None:
            raise ConfigError("storage.cache.blobdescriptor: redis needs a redis.addr")
        # Imported here so that a registry without Redis never loads the client.
        from dockyard.extras import require

        require("redis", "storage.cache.blobdescriptor: redis")
        from dockyard.storage.cache.redis import RedisBlobDescriptorCache

        return RedisBlobDescriptorCache.from_config(config.redis)
    if settings.blobdescriptorsize < 1:
        raise ConfigError("storage.cache.blobdescriptorsize: must be at least 1")
    return MemoryBlobDescriptorCache(settings.blobdescriptorsize)
