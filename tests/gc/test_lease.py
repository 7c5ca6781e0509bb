"""The collector's lease: one holder at a time, in Redis or in storage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis_server import RedisServer, redis_server

from dockyard.gc.lease import Lease, LeaseHeld, RedisLease, StorageLease, holding
from dockyard.storage.driver.filesystem import FilesystemDriver

__all__ = ["redis_server"]


@pytest.fixture(params=["redis", "storage"])
async def make_lease(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Callable[..., Lease]]:
    """Leases on one Redis, or on one storage root, as separate instances would hold them."""
    opened: list[Lease] = []
    driver = FilesystemDriver(tmp_path / "root")

    def make(ttl: timedelta = timedelta(seconds=60)) -> Lease:
        lease: Lease
        if request.param == "redis":
            server: RedisServer = request.getfixturevalue("redis_server")
            lease = RedisLease(Redis(host="127.0.0.1", port=server.port), ttl)
        else:
            lease = StorageLease(driver, ttl)
        opened.append(lease)
        return lease

    yield make
    for lease in opened:
        await lease.close()
    await driver.close()


async def test_a_held_lease_is_refused_to_another_holder(make_lease: Callable[..., Lease]) -> None:
    first, second = make_lease(), make_lease()
    assert await first.acquire()
    assert not await second.acquire()


async def test_a_released_lease_can_be_taken_by_another_holder(
    make_lease: Callable[..., Lease],
) -> None:
    first, second = make_lease(), make_lease()
    async with holding(first):
        with pytest.raises(LeaseHeld):
            async with holding(second):
                pass
    async with holding(second):
        assert await second.renew()


async def test_an_expired_lease_cannot_be_renewed_once_another_took_it(
    make_lease: Callable[..., Lease],
) -> None:
    short = make_lease(timedelta(milliseconds=100))
    assert await short.acquire()
    await asyncio.sleep(0.3)
    other = make_lease()
    assert await other.acquire()
    assert not await short.renew()
