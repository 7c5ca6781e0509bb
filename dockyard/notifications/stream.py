"""The event queue in Redis streams, for instances that share a Redis (``redis`` configured).

Every instance appends its events to one stream per endpoint, so an event queued by an
instance that never comes back is still delivered by another. Keys, per endpoint::

    dockyard::notifications::<endpoint>::events       the queue (a stream)
    dockyard::notifications::<endpoint>::deadletters  events given up (a stream)
    dockyard::notifications::<endpoint>::lead         which deliverer leads (a lease)

Delivery goes through the consumer group ``dockyard`` of the events stream. One
deliverer at a time leads an endpoint (a lease it renews; another instance takes over
within ``LEASE_SECONDS`` of its end), so batches reach the endpoint one after another,
in the order Redis received the events, per repository as well. A new leader first
claims the entries its predecessor read but never acknowledged (``XAUTOCLAIM``) and sends
them before newer ones; an entry is acknowledged and deleted only after the endpoint
accepted its batch. Delivery is at least once: a leader killed after a batch was posted
and before it was acknowledged has it posted again by the next.

How durable a queued event is, is Redis's own persistence (``appendonly yes`` with
``appendfsync always`` or ``everysec``); dockyard's memory holds a batch at a time.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import time
from collections.abc import Sequence
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from dockyard.config import RedisConfig
from dockyard.notifications.queue import Entry, records

#: The consumer group every instance's deliverer reads the events stream through.
GROUP: Final = "dockyard"
#: How long a leader's lease lasts unless renewed (it is renewed a third of the way).
LEASE_SECONDS: Final = 10.0
_PREFIX: Final = "dockyard::notifications::"

# Renew or release the lease only while this deliverer holds it.
_RENEW: Final = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)
_RELEASE: Final = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('del', KEYS[1]) else return 0 end"
)


def events_key(endpoint: str) -> str:
    return f"{_PREFIX}{endpoint}::events"


def deadletters_key(endpoint: str) -> str:
    return f"{_PREFIX}{endpoint}::deadletters"


def lead_key(endpoint: str) -> str:
    return f"{_PREFIX}{endpoint}::lead"


def client(config: RedisConfig) -> Redis:
    """A client of the configured Redis (its own pool: delivery must not wait on the cache's)."""
    from dockyard.storage.cache.redis import connection_pool

    return Redis(connection_pool=connection_pool(config))


async def append(redis: Redis, batches: dict[str, list[tuple[str, bytes]]]) -> None:
    """Queue ``(action, event JSON)`` pairs per endpoint, in one round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        for endpoint, batch in batches.items():
            key = events_key(endpoint)
            for action, raw in batch:
                pipe.xadd(key, {"a": action, "e": raw})
        await pipe.execute()


class StreamQueue:
    """One endpoint's stream as its deliverer (and ``dockyard events``) sees it."""

    def __init__(self, redis: Redis, endpoint: str) -> None:
        self.redis = redis
        self.key = events_key(endpoint)
        self.deadletters_key = deadletters_key(endpoint)
        self.lead_key = lead_key(endpoint)
        name = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        #: This deliverer's consumer name in the group, and the value of its lease.
        self.consumer = name
        self._leading = False
        self._renewed = 0.0

    # --- who delivers -------------------------------------------------------------------

    async def lead(self) -> bool:
        """Take the endpoint's lead if nobody holds it; then claim what the last leader left."""
        if self._leading:
            return await self.still_leading()
        lease = int(LEASE_SECONDS * 1000)
        if not await self.redis.set(self.lead_key, self.consumer, nx=True, px=lease):
            return False
        renewed = time.monotonic()
        with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists already
            await self.redis.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        # Leading only once the leftovers are ours: if claiming fails, the lease runs out
        # and the next attempt (here or elsewhere) claims them.
        await self._claim_leftovers()
        self._leading = True
        self._renewed = renewed
        return True

    async def still_leading(self) -> bool:
        """Renew the lease when a third of it has passed; False once it was lost."""
        if not self._leading:
            return False
        now = time.monotonic()
        if now - self._renewed < LEASE_SECONDS / 3:
            return True
        renewed = await self.redis.eval(
            _RENEW, 1, self.lead_key, self.consumer, int(LEASE_SECONDS * 1000)
        )
        self._leading = bool(renewed)
        self._renewed = now
        return self._leading

    async def release(self) -> None:
        if self._leading:
            self._leading = False
            with contextlib.suppress(Exception):
                await self.redis.eval(_RELEASE, 1, self.lead_key, self.consumer)

    async def _claim_leftovers(self) -> None:
        """Take over every entry other consumers read and never acknowledged, and forget
        those consumers (only a leader reads, so they were leaders that are gone)."""
        start = "0-0"
        while True:
            reply = await self.redis.xautoclaim(
                self.key, GROUP, self.consumer, min_idle_time=0, start_id=start, count=1000
            )
            start = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
            if start == "0-0":
                break
        for consumer in await self.redis.xinfo_consumers(self.key, GROUP):
            name = consumer["name"]
            name = name.decode() if isinstance(name, bytes) else str(name)
            if name != self.consumer and not consumer["pending"]:
                await self.redis.xgroup_delconsumer(self.key, GROUP, name)

    # --- reading ------------------------------------------------------------------------

    async def next_batch(self, limit: int) -> list[Entry]:
        """The oldest unacknowledged events: those read before (a batch being retried, or
        claimed from the last leader) first, else new ones."""
        for start in ("0", ">"):
            # redis-py types stream replies loosely: they are [(key, [(id, fields)])].
            reply: Any = await self.redis.xreadgroup(
                GROUP, self.consumer, {self.key: start}, count=limit
            )
            entries: list[Entry] = []
            gone: list[bytes] = []
            for _, messages in reply or ():
                for message_id, fields in messages:
                    if not fields:  # deleted while unacknowledged: nothing to send
                        gone.append(message_id)
                        continue
                    entries.append(
                        Entry(0, fields[b"a"].decode(), fields[b"e"], message_id.decode(), 0)
                    )
            if gone:
                await self.redis.xack(self.key, GROUP, *gone)
            if entries:
                return entries
        return []

    async def advance(self, entries: Sequence[Entry]) -> None:
        """Acknowledge and delete ``entries``: the endpoint has them."""
        ids = [entry.segment for entry in entries]
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.key, GROUP, *ids)
            pipe.xdel(self.key, *ids)
            await pipe.execute()

    async def pending(self) -> int:
        """Events not yet delivered (delivered ones are deleted)."""
        return int(await self.redis.xlen(self.key))

    # --- the dead-letter list -----------------------------------------------------------

    async def dead_letter(self, entries: Sequence[Entry], reason: str) -> None:
        """Move ``entries`` to the dead-letter stream, in one transaction."""
        ids = [entry.segment for entry in entries]
        async with self.redis.pipeline(transaction=True) as pipe:
            for entry in entries:
                pipe.xadd(
                    self.deadletters_key, {"r": reason, "t": repr(time.time()), "e": entry.raw}
                )
            pipe.xack(self.key, GROUP, *ids)
            pipe.xdel(self.key, *ids)
            await pipe.execute()

    async def dead_letters(self) -> list[dict[str, Any]]:
        """``{"failed", "at", "event"}`` records, oldest first, as the disk queue's."""
        listing: Any = await self.redis.xrange(self.deadletters_key)
        return records(b"\n".join(_record(fields) for _, fields in listing))

    async def replay(self) -> int:
        """Queue every dead-lettered event again; returns how many."""
        listing: Any = await self.redis.xrange(self.deadletters_key)
        if not listing:
            return 0
        async with self.redis.pipeline(transaction=True) as pipe:
            for _, fields in listing:
                event = json.loads(fields[b"e"])
                pipe.xadd(self.key, {"a": event.get("action", ""), "e": fields[b"e"]})
            pipe.xdel(self.deadletters_key, *(message_id for message_id, _ in listing))
            await pipe.execute()
        return len(listing)


def _record(fields: dict[bytes, bytes]) -> bytes:
    reason = json.dumps(fields[b"r"].decode())
    return b'{"failed":%s,"at":%s,"event":%s}' % (reason.encode(), fields[b"t"], fields[b"e"])
