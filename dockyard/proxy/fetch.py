"""Fetching a blob from the upstream once, into the store, while clients receive it.

A ``BlobFetch`` is one download of one blob: it holds the lease on the blob (so other
workers and instances wait rather than download it too), streams the upstream's bytes
through the store's normal upload path (``Uploads.upload``: written, verified against
the digest, made durable, then linked) and hands each chunk to the clients that asked
before the first chunk arrived. Clients that come later, or wait in another worker,
read the blob from the store once it is there. The last chunk is held back from clients
until the store has verified the digest: a blob that fails verification reaches no
client whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from dockyard.descriptor import Descriptor
from dockyard.proxy.leases import Leases
from dockyard.proxy.tasks import TaskSet

logger = logging.getLogger("dockyard.proxy")

#: Chunks queued for a client before the download waits for it.
_QUEUE_CHUNKS: Final = 64
#: How long the download waits for a client whose queue is full before going on without it.
_LAG_SECONDS: Final = 5.0
#: The end of the download (upstream chunks are never empty: ``_send`` drops those).
_END: Final = b""

#: Streams the blob from upstream into the store, calling ``started`` with its size first;
#: returns the stored descriptor.
Download = Callable[
    [Callable[[int], None], Callable[[bytes], Awaitable[None]]], Awaitable[Descriptor]
]
#: Whether the blob is in the store already (linking it from another repository if it can).
Present = Callable[[], Awaitable[bool]]


class Subscriber:
    """A client receiving a download as it happens.

    A client that falls too far behind is ``lagging``: the download stops waiting for
    it, and it reads the rest from the store once the blob is there.
    """

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(_QUEUE_CHUNKS)
        self.lagging = False


@dataclass(eq=False)
class BlobFetch:
    """One download of one blob, shared by every request of this worker that needs it."""

    key: str
    #: The blob's size once the upstream answered, or None if it was stored already.
    started: asyncio.Future[int | None] = field(default_factory=asyncio.Future)
    done: asyncio.Future[None] = field(default_factory=asyncio.Future)
    _subscribers: list[Subscriber] = field(default_factory=list)
    _flowing: bool = False

    def subscribe(self) -> Subscriber | None:
        """A subscription to the blob's chunks, if none has been sent yet; else None."""
        if self._flowing or self.done.done():
            return None
        subscriber = Subscriber()
        self._subscribers.append(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(subscriber)

    def _start(self, size: int) -> None:
        if not self.started.done():
            self.started.set_result(size)

    async def _send(self, chunk: bytes) -> None:
        self._flowing = True
        if not chunk:
            return
        for subscriber in list(self._subscribers):
            try:
                subscriber.queue.put_nowait(chunk)
            except asyncio.QueueFull:
                try:
                    await asyncio.wait_for(subscriber.queue.put(chunk), _LAG_SECONDS)
                except TimeoutError:
                    subscriber.lagging = True
                    self.unsubscribe(subscriber)

    async def run(self, leases: Leases, present: Present, download: Download) -> None:
        try:
            async with leases.hold(self.key):
                if not await present():
                    await download(self._start, self._send)
            if not self.started.done():
                self.started.set_result(None)
        except BaseException as error:
            if not self.started.done():
                self.started.set_exception(error)
            self.done.set_exception(error)
            self._finish()
            if not isinstance(error, Exception):
                raise
            return
        self.done.set_result(None)
        self._finish()

    def _finish(self) -> None:
        self._flowing = True
        for subscriber in self._subscribers:
            try:
                subscriber.queue.put_nowait(_END)
            except asyncio.QueueFull:
                # It drains what is queued, then reads the rest from the store.
                subscriber.lagging = True
        self._subscribers.clear()


class BlobFetches:
    """The downloads of this worker, one per key while it runs."""

    def __init__(self, leases: Leases) -> None:
        self.leases = leases
        self._running: dict[str, BlobFetch] = {}
        self._tasks = TaskSet()

    def fetch(self, key: str, present: Present, download: Download) -> BlobFetch:
        """The running fetch of ``key``, or a new one started with ``download``."""
        running = self._running.get(key)
        if running is not None:
            return running
        fetch = BlobFetch(key)
        # Nobody may wait for these without reading them; mark them retrieved.
        fetch.started.add_done_callback(_retrieve)
        fetch.done.add_done_callback(_retrieve)
        self._running[key] = fetch

        async def run() -> None:
            try:
                await fetch.run(self.leases, present, download)
            finally:
                self._running.pop(key, None)

        # The download belongs to no request: a client that goes away does not stop it.
        self._tasks.spawn(run())
        return fetch

    async def close(self) -> None:
        await self._tasks.close()


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def stream_from(
    fetch: BlobFetch,
    subscriber: Subscriber,
    resume: Callable[[int], Awaitable[AsyncIterator[bytes]]],
) -> AsyncIterator[bytes]:
    """The bytes of ``fetch`` as they arrive, the last one only once the store verified it.

    ``resume(offset)`` reads the stored blob from ``offset``, for a client that lagged.
    """
    # The last byte received waits for the next chunk, and the last of all for the
    # verification: every other byte goes to the client as soon as it arrives.
    held = b""
    sent = 0
    queue = subscriber.queue
    try:
        while not (subscriber.lagging and queue.empty()):
            chunk = await queue.get()
            if chunk is _END:
                break
            if len(chunk) > 1 or held:
                out = held + chunk[:-1]
                held = chunk[-1:]
                yield out
                sent += len(out)
            else:
                held = chunk
        try:
            await fetch.done
        except Exception as error:
            # The body ends short of its Content-Length: the client sees a cut transfer,
            # never a complete wrong body (and the store kept nothing).
            logger.warning(
                "proxy: %s failed (%s: %s); transfer cut",
                fetch.key.replace("\0", " "),
                type(error).__name__,
                getattr(error, "message", error),
            )
            return
        if held:
            yield held
            sent += len(held)
        if subscriber.lagging:
            async for chunk in await resume(sent):
                yield chunk
    finally:
        fetch.unsubscribe(subscriber)


__all__ = ["BlobFetch", "BlobFetches", "Download", "Present", "Subscriber", "stream_from"]
