"""The Redis stream queue: one leader at a time, and what a dead leader left is sent first."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis_server import RedisServer

from dockyard.config import RedisConfig
from dockyard.notifications import stream
from dockyard.notifications.stream import StreamQueue


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = stream.client(RedisConfig(addr=redis_server.addr))
    yield client
    await client.aclose()


async def _queue_events(redis: Redis, count: int) -> None:
    await stream.append(redis, {"sink": [("push", b'{"id":"%d"}' % n) for n in range(count)]})


async def test_only_one_deliverer_leads_an_endpoint(redis: Redis) -> None:
    first, second = StreamQueue(redis, "sink"), StreamQueue(redis, "sink")

    assert await first.lead()
    assert not await second.lead()
    await first.release()
    assert await second.lead()


async def test_a_new_leader_sends_what_a_dead_leader_read_but_never_acknowledged_first(
    redis: Redis,
) -> None:
    await _queue_events(redis, 5)
    dead = StreamQueue(redis, "sink")
    assert await dead.lead()
    taken = await dead.next_batch(3)
    await redis.delete(stream.lead_key("sink"))  # its lease ran out: it never came back

    successor = StreamQueue(redis, "sink")
    assert await successor.lead()
    again = await successor.next_batch(10)
    await successor.advance(again)
    rest = await successor.next_batch(10)

    assert [e.event["id"] for e in taken] == ["0", "1", "2"]
    assert [e.event["id"] for e in again + rest] == [str(n) for n in range(5)]
    await successor.advance(rest)
    assert await successor.pending() == 0
    assert await successor.next_batch(10) == []


async def test_a_failed_batch_is_read_again_until_it_is_acknowledged(redis: Redis) -> None:
    await _queue_events(redis, 2)
    queue = StreamQueue(redis, "sink")
    assert await queue.lead()

    first = await queue.next_batch(10)
    retried = await queue.next_batch(10)

    assert [e.event["id"] for e in retried] == [e.event["id"] for e in first] == ["0", "1"]
