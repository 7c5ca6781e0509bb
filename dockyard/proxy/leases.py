"""Leases: one holder at a time for a key, across workers and across instances.

A pull-through cache must fetch a cold blob once, however many pulls ask for it at the
same moment. Within a worker, ``BlobFetches`` shares one fetch; between the workers of
one host, ``FileLeases`` hands the fetch to whoever holds an exclusive ``flock`` on a lock
file; between instances behind one name, ``RedisLeases`` does the same with a Redis key
that expires if its holder dies. Whoever waited finds the blob stored when it gets the
lease, and serves it from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis

#: How often a waiter looks again whether the lease is free.
_POLL_SECONDS: Final = 0.05
#: A Redis lease lives this long without renewal (its holder renews it while it works).
_REDIS_LEASE_MS: Final = 30_000
_RELEASE_SCRIPT: Final = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


class Leases(Protocol):
    """Exclusive holds on keys, waited for without blocking the event loop."""

    def hold(self, key: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Wait until ``key`` is free, hold it for the ``async with`` block."""
        ...


class FileLeases:
    """Leases as ``flock``s on files in one directory: every worker of the host sees them.

    The lock is released by the kernel when its holder exits, so a crashed worker never
    leaves a key held.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        name = hashlib.sha256(key.encode()).hexdigest()[:40] + ".lock"
        fd = os.open(self.directory / name, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(_POLL_SECONDS)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


class RedisLeases:
    """Leases as Redis keys set with NX and an expiry, renewed while held.

    Combined with ``FileLeases`` (the file first), so workers of one host wait on the
    file and only one of them asks Redis.
    """

    def __init__(self, redis: Redis, local: Leases, prefix: str = "dockyard:proxy:lease:") -> None:
        self._redis = redis
        self._local = local
        self._prefix = prefix

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        async with self._local.hold(key):
            name = self._prefix + hashlib.sha256(key.encode()).hexdigest()
            token = secrets.token_hex(16)
            while True:
                if await self._redis.set(name, token, nx=True, px=_REDIS_LEASE_MS):
                    break
                await asyncio.sleep(_POLL_SECONDS)
            renewal = asyncio.create_task(self._renew(name, token))
            try:
                yield
            finally:
                renewal.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewal
                await self._redis.eval(_RELEASE_SCRIPT, 1, name, token)

    async def _renew(self, name: str, token: str) -> None:
        while True:
            await asyncio.sleep(_REDIS_LEASE_MS / 3000)
            if await self._redis.get(name) != token.encode():
                return
            await self._redis.pexpire(name, _REDIS_LEASE_MS)
