"""Where the event queue lives: Redis streams when ``redis`` is configured, else on disk.

``open_store`` is the one place that decides, for ``serve`` (the ``Journal`` appends and
its deliverers read), ``dockyard events`` and the debug listener's ``/debug/vars``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dockyard.config import Config
from dockyard.notifications.queue import DeliveryQueue, DiskQueue, SegmentWriter, line, queue_root

if TYPE_CHECKING:
    from redis.asyncio import Redis

#: Encoded events per endpoint name: ``(sequence, action, event JSON)`` in queue order.
Encoded = dict[str, list[tuple[int, str, bytes]]]


class QueueStore(Protocol):
    """Appends events to every endpoint's queue and opens those queues for delivery."""

    async def append(self, encode: Callable[[], Encoded], durable: bool) -> None:
        """Queue what ``encode`` returns (called off the event loop); with ``durable``,
        kept when this returns."""
        ...

    def queue(self, endpoint: str) -> DeliveryQueue: ...

    async def close(self) -> None: ...


class DiskStore:
    """The journals under ``root``, one folder per endpoint (see ``queue``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._writers: dict[str, SegmentWriter] = {}

    async def append(self, encode: Callable[[], Encoded], durable: bool) -> None:
        await asyncio.to_thread(self._write, encode, durable)

    def _write(self, encode: Callable[[], Encoded], durable: bool) -> None:
        for endpoint, encoded in encode().items():
            writer = self._writers.get(endpoint)
            if writer is None:
                writer = self._writers[endpoint] = SegmentWriter(self.root / endpoint)
            data = b"".join(line(sequence, action, raw) for sequence, action, raw in encoded)
            writer.append(data, durable)

    def queue(self, endpoint: str) -> DeliveryQueue:
        return DiskQueue(self.root / endpoint)

    async def close(self) -> None:
        for writer in self._writers.values():
            writer.close()


class RedisStore:
    """One Redis stream per endpoint (see ``stream``), shared by every instance."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def append(self, encode: Callable[[], Encoded], durable: bool) -> None:
        from dockyard.notifications.stream import append

        encoded = await asyncio.to_thread(encode)
        await append(
            self.redis,
            {name: [(action, raw) for _, action, raw in batch] for name, batch in encoded.items()},
        )

    def queue(self, endpoint: str) -> DeliveryQueue:
        from dockyard.notifications.stream import StreamQueue

        return StreamQueue(self.redis, endpoint)

    async def close(self) -> None:
        await self.redis.aclose()
        await self.redis.connection_pool.disconnect()


def open_store(config: Config) -> QueueStore:
    """The queue ``config`` describes: in Redis if configured, else on disk."""
    if config.redis is not None:
        from dockyard.notifications import stream

        return RedisStore(stream.client(config.redis))
    return DiskStore(queue_root(config))


async def _stats(config: Config) -> dict[str, dict[str, int]]:
    store = open_store(config)
    try:
        stats: dict[str, dict[str, int]] = {}
        for endpoint in config.notifications.endpoints:
            queue = store.queue(endpoint.name)
            stats[endpoint.name] = {
                "pending": await queue.pending(),
                "deadletters": len(await queue.dead_letters()),
            }
        return stats
    finally:
        await store.close()


def queue_stats(config: Config) -> dict[str, Any]:
    """Pending and dead-lettered events per endpoint (blocking, for ``/debug/vars``)."""
    try:
        return asyncio.run(_stats(config))
    except Exception as error:  # Redis down: /debug/vars still answers
        return {"error": f"{type(error).__name__}: {error}"}
