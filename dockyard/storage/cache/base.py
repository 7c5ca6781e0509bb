"""What a blob-descriptor cache is: digest → descriptor, registry-wide and per repository.

Like the reference registry's ``cache.BlobDescriptorCacheProvider``: the registry-wide
part remembers a blob's size and media type by digest, and the per-repository part
remembers which blobs are linked into which repository. A cache is an optimisation and
never the source of truth: a miss, or any failure of the cache itself, falls through to
storage, so an implementation answers ``None`` (or does nothing) rather than raise.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol, runtime_checkable

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest


@runtime_checkable
class RepositoryBlobCache(Protocol):
    """Cached descriptors of the blobs linked into one repository."""

    async def get(self, digest: Digest) -> Descriptor | None:
        """The descriptor if the blob is known to be linked here; None on a miss."""
        ...

    async def set(self, descriptor: Descriptor) -> None:
        """Remember that the blob is linked here (and its registry-wide descriptor)."""
        ...

    async def clear(self, digest: Digest) -> None:
        """Forget the link (the blob was unlinked from this repository)."""
        ...


@runtime_checkable
class BlobDescriptorCache(Protocol):
    """A registry-wide blob-descriptor cache that can also scope itself to a repository.

    The global blob store consults it by digest (``get``/``set``/``clear``); its
    repository scopes decorate repositories' ``Blobs`` (``cache.cached``).
    """

    async def get(self, digest: Digest) -> Descriptor | None:
        """The cached descriptor of a stored blob, or None on a miss."""
        ...

    async def set(self, descriptor: Descriptor) -> None:
        """Remember a stored blob's descriptor."""
        ...

    async def clear(self, digest: Digest) -> None:
        """Forget a digest (its content was deleted)."""
        ...

    def repository(self, name: str) -> RepositoryBlobCache | None:
        """The cache of repository ``name``'s links, or None when links are not cached.

        Only a cache that every process serving the storage shares can cache links: an
        unlink must invalidate what every instance would answer.
        """
        ...

    async def close(self) -> None:
        """Release connections; the cache is not used afterwards."""
        ...


class RateLimitedWarning:
    """Logs a recurring failure at most once per ``interval`` seconds, counting the rest.

    A cache that is down fails on every request; one line per request would drown
    the log that tells the operator about it.
    """

    def __init__(self, logger: logging.Logger, interval: float = 30.0) -> None:
        self.logger = logger
        self.interval = interval
        self._last = float("-inf")
        self._suppressed = 0

    def warn(self, message: str, *args: object) -> None:
        """Log ``message`` unless one was logged less than ``interval`` seconds ago."""
        now = time.monotonic()
        if now - self._last < self.interval:
            self._suppressed += 1
            return
        if self._suppressed:
            message += f" ({self._suppressed} similar failure(s) not logged)"
        self._last = now
        self._suppressed = 0
        self.logger.warning(message, *args)
