"""The collector's lease: at most one collection at a time across every instance.

With Redis configured the lease is a key set only if absent (``SET NX PX``), renewed and
released only by its holder (a compare in a Lua script). Without Redis it is a file in
storage: a claimant writes its id when the file is absent or expired, waits a moment,
and holds the lease only if it reads its own id back (the last writer wins, and every
claimant looks only after that moment). Correctness does not rest on the lease: two
collectors at once stay safe (``docs/collection.md``); the lease keeps them from
doing the same work twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from dockyard.storage import paths
from dockyard.storage.driver.base import PathNotFound, StorageDriver

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)

#: How long a lease lasts without renewal (a crashed holder's lease expires after it).
LEASE_TTL = timedelta(seconds=60)
#: How long a storage claimant waits before reading its claim back.
_SETTLE_SECONDS = 0.2
_REDIS_KEY = "dockyard::gc::lease"

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class Lease(Protocol):
    """A lease one holder at a time can take, renew and give back."""

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it; whether it was taken."""
        ...

    async def renew(self) -> bool:
        """Extend the lease; False if it was lost (expired and taken by another)."""
        ...

    async def release(self) -> None:
        """Give the lease back (only if still held)."""
        ...

    async def close(self) -> None:
        """Release the connection the lease uses, if any."""
        ...


class StorageLease:
    """The lease as a file in storage (``paths.GC_LEASE``)."""

    def __init__(
        self, driver: StorageDriver, ttl: timedelta = LEASE_TTL, path: str = paths.GC_LEASE
    ) -> None:
        self.driver = driver
        self.ttl = ttl
        self.path = path
        self.owner = uuid.uuid4().hex

    async def _holder(self) -> tuple[str, float] | None:
        try:
            raw = json.loads(await self.driver.get_content(self.path))
            return str(raw["owner"]), float(raw["expires"])
        except (PathNotFound, ValueError, KeyError, TypeError):
            return None

    async def _write(self) -> None:
        expires = time.time() + self.ttl.total_seconds()
        body = json.dumps({"owner": self.owner, "expires": expires}).encode()
        await self.driver.put_content(self.path, body)

    async def acquire(self) -> bool:
        holder = await self._holder()
        if holder is not None and holder[0] != self.owner and holder[1] > time.time():
            return False
        await self._write()
        await asyncio.sleep(_SETTLE_SECONDS)
        holder = await self._holder()
        return holder is not None and holder[0] == self.owner

    async def renew(self) -> bool:
        holder = await self._holder()
        if holder is None or holder[0] != self.owner:
            return False
        await self._write()
        return True

    async def release(self) -> None:
        holder = await self._holder()
        if holder is not None and holder[0] == self.owner:
            with contextlib.suppress(PathNotFound):
                await self.driver.delete(self.path)

    async def close(self) -> None:
        return None


class RedisLease:
    """The lease as a Redis key every instance sharing the storage also shares."""

    def __init__(self, client: Redis, ttl: timedelta = LEASE_TTL, key: str = _REDIS_KEY) -> None:
        self.client = client
        self.ttl_ms = int(ttl.total_seconds() * 1000)
        self.key = key
        self.owner = uuid.uuid4().hex

    async def acquire(self) -> bool:
        return bool(await self.client.set(self.key, self.owner, nx=True, px=self.ttl_ms))

    async def renew(self) -> bool:
        renewed = await self.client.eval(_RENEW, 1, self.key, self.owner, self.ttl_ms)
        return bool(renewed)

    async def release(self) -> None:
        await self.client.eval(_RELEASE, 1, self.key, self.owner)

    async def close(self) -> None:
        await self.client.aclose()


class LeaseHeld(Exception):
    """Another collector holds the lease."""


@contextlib.asynccontextmanager
async def holding(lease: Lease, ttl: timedelta = LEASE_TTL) -> AsyncIterator[None]:
    """Hold ``lease`` for the block, renewing it; ``LeaseHeld`` if another holds it."""
    if not await lease.acquire():
        raise LeaseHeld
    stop = asyncio.Event()

    async def renew() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), ttl.total_seconds() / 3)
            if not stop.is_set() and not await lease.renew():
                logger.warning("gc: the collector's lease was lost; another may collect too")
                return

    renewing = asyncio.create_task(renew())
    try:
        yield
    finally:
        stop.set()
        await renewing
        await lease.release()
