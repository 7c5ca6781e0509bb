"""A blob-descriptor cache in Redis, shared by every instance behind a load balancer.

Because all instances read and invalidate the same entries, this cache may also hold
repository links: an unlink on any instance clears the link for all of them.

Redis is an optimisation only. Every Redis failure (refused, timed out, pool exhausted,
garbled) is logged, rate-limited, and answered as a miss, so requests fall through to
storage and keep working while Redis is down. After a failure, reads and writes skip
Redis for ``backoff`` seconds so that a dead or black-holed server costs requests
nothing; invalidations are always attempted. Entries expire after ``ttl`` so that what
no instance invalidated (content removed by an offline garbage collection, an
invalidation lost while Redis was unreachable) is forgotten eventually.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Final

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from dockyard.config import RedisConfig
from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.errors import DigestInvalid
from dockyard.storage.cache.base import RateLimitedWarning

logger = logging.getLogger("dockyard.storage.cache.redis")

#: What a Redis failure may raise; anything else is a bug and propagates.
_FAILURES: Final = (RedisError, OSError, asyncio.TimeoutError, ValueError, DigestInvalid)
#: Waits that the configuration leaves unset: a cache must answer fast or not at all.
DEFAULT_TIMEOUT: Final = timedelta(seconds=1)
#: ``redis.pool.maxactive`` when unset (the reference allows unlimited connections).
DEFAULT_MAX_CONNECTIONS: Final = 64
DEFAULT_TTL: Final = timedelta(hours=1)
DEFAULT_BACKOFF: Final = 1.0
_PREFIX: Final = "dockyard::"


def blob_key(digest: Digest) -> str:
    """The hash holding a blob's registry-wide descriptor."""
    return f"{_PREFIX}blobs::{digest}"


def link_key(repository: str, digest: Digest) -> str:
    """The key saying that ``digest`` is linked into ``repository``."""
    return f"{_PREFIX}repository::{repository}::blobs::{digest}"


class RedisBlobDescriptorCache:
    """Blob descriptors and repository links in Redis, degrading to misses on failure."""

    def __init__(
        self,
        client: Redis,
        *,
        ttl: timedelta | None = DEFAULT_TTL,
        backoff: float = DEFAULT_BACKOFF,
    ) -> None:
        self.client = client
        self.ttl = int(ttl.total_seconds()) if ttl else None
        self.backoff = backoff
        self._down_until = float("-inf")
        self._warning = RateLimitedWarning(logger)
        #: Called once per cache call that Redis failed or skipped while down (metrics).
        self.on_failure: Callable[[], None] | None = None

    @classmethod
    def from_config(cls, config: RedisConfig, **options: Any) -> RedisBlobDescriptorCache:
        """A cache on the server ``redis`` configures, through a ``BlockingConnectionPool``."""
        return cls(Redis(connection_pool=connection_pool(config), retry=_no_retry()), **options)

    # --- degrading ------------------------------------------------------------------------

    def _available(self) -> bool:
        if time.monotonic() >= self._down_until:
            return True
        if self.on_failure is not None:
            self.on_failure()
        return False

    def _failed(self, action: str, error: BaseException) -> None:
        self._down_until = time.monotonic() + self.backoff
        if self.on_failure is not None:
            self.on_failure()
        # The error's type and text name the server at most, never a password.
        self._warning.warn(
            "redis cache: %s failed (%s: %s); serving from storage",
            action,
            type(error).__name__,
            error,
        )

    # --- registry-wide descriptors --------------------------------------------------------

    async def get(self, digest: Digest) -> Descriptor | None:
        """The cached descriptor, or None on a miss or any Redis failure."""
        if not self._available():
            return None
        try:
            fields = await self.client.hmget(blob_key(digest), ["mediatype", "size"])
            return _descriptor(digest, fields)
        except _FAILURES as error:
            self._failed("get", error)
            return None

    async def set(self, descriptor: Descriptor) -> None:
        """Remember a descriptor; a failure is logged and otherwise ignored."""
        if not self._available():
            return
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                self._queue_descriptor(pipe, descriptor)
                await pipe.execute()
        except _FAILURES as error:
            self._failed("set", error)

    async def clear(self, digest: Digest) -> None:
        """Forget a digest; attempted even while Redis seemed down."""
        await self._delete(blob_key(digest))

    # --- repository links -----------------------------------------------------------------

    def repository(self, name: str) -> RedisRepositoryBlobCache:
        """The links of repository ``name``."""
        return RedisRepositoryBlobCache(self, name)

    async def get_linked(self, repository: str, digest: Digest) -> Descriptor | None:
        """The descriptor if ``digest`` is known linked into ``repository`` (one round trip)."""
        if not self._available():
            return None
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.exists(link_key(repository, digest))
                pipe.hmget(blob_key(digest), ["mediatype", "size"])
                linked, fields = await pipe.execute()
            return _descriptor(digest, fields) if linked else None
        except _FAILURES as error:
            self._failed("get", error)
            return None

    async def set_linked(self, repository: str, descriptor: Descriptor) -> None:
        """Remember the link and the descriptor together."""
        if not self._available():
            return
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                self._queue_descriptor(pipe, descriptor)
                pipe.set(link_key(repository, descriptor.digest), b"1", ex=self.ttl)
                await pipe.execute()
        except _FAILURES as error:
            self._failed("set", error)

    async def clear_linked(self, repository: str, digest: Digest) -> None:
        """Forget the link; attempted even while Redis seemed down."""
        await self._delete(link_key(repository, digest))

    # --- plumbing -------------------------------------------------------------------------

    def _queue_descriptor(self, pipe: Any, descriptor: Descriptor) -> None:
        key = blob_key(descriptor.digest)
        pipe.hset(key, mapping={"mediatype": descriptor.media_type, "size": descriptor.size})
        if self.ttl:
            pipe.expire(key, self.ttl)

    async def _delete(self, key: str) -> None:
        try:
            await self.client.delete(key)
        except _FAILURES as error:
            # The entry may survive until its TTL; nothing else can be done about it.
            self._failed("invalidation", error)

    async def close(self) -> None:
        """Close the client and its connection pool."""
        try:
            await self.client.aclose()
            await self.client.connection_pool.disconnect()
        except _FAILURES as error:
            logger.debug("redis cache: closing failed: %s", error)


class RedisRepositoryBlobCache:
    """One repository's view of a ``RedisBlobDescriptorCache``."""

    def __init__(self, cache: RedisBlobDescriptorCache, name: str) -> None:
        self.cache = cache
        self.name = name

    async def get(self, digest: Digest) -> Descriptor | None:
        """The descriptor if the blob is known linked here, else None."""
        return await self.cache.get_linked(self.name, digest)

    async def set(self, descriptor: Descriptor) -> None:
        """Remember that the blob is linked here."""
        await self.cache.set_linked(self.name, descriptor)

    async def clear(self, digest: Digest) -> None:
        """Forget the link."""
        await self.cache.clear_linked(self.name, digest)


def _descriptor(digest: Digest, fields: list[bytes | str | None]) -> Descriptor | None:
    media_type, size = fields
    if media_type is None or size is None:
        return None
    if isinstance(media_type, bytes):
        media_type = media_type.decode()
    return Descriptor(media_type=media_type, digest=digest, size=int(size))


def _no_retry() -> Retry:
    # redis-py retries with growing back-off by default: seconds per request while Redis
    # is down, which a cache must never cost.
    return Retry(NoBackoff(), 0)


def connection_pool(config: RedisConfig) -> BlockingConnectionPool:
    """A ``BlockingConnectionPool`` for ``redis`` (``addr``, ``db``, timeouts, ``pool``).

    ``pool.maxactive`` bounds the connections; a request waits for a free one at most
    the dial timeout. ``pool.maxidle`` and ``pool.idletimeout`` have no counterpart in
    redis-py's pool and are accepted without effect.
    """
    host, _, port = config.addr.rpartition(":")
    dial = (config.dialtimeout or DEFAULT_TIMEOUT).total_seconds()
    # redis-py has one socket timeout for both directions: the longer of the two wins.
    io_timeouts = [t for t in (config.readtimeout, config.writetimeout) if t is not None]
    io = max(io_timeouts or [DEFAULT_TIMEOUT]).total_seconds()
    return BlockingConnectionPool(
        max_connections=config.pool_maxactive or DEFAULT_MAX_CONNECTIONS,
        timeout=dial,
        connection_class=SSLConnection if config.tls_enabled else Connection,
        host=host.strip("[]") or "127.0.0.1",
        port=int(port),
        db=config.db,
        username=config.username,
        password=config.password,
        socket_connect_timeout=dial,
        socket_timeout=io,
        retry=_no_retry(),
    )
