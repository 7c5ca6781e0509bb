"""Fetching a blob from the upstream once, into the store, while clients receive it.

A ``BlobFetch`` is one download of one blob: it holds the lease on the blob (so other
workers and instances wait rather than download it too), streams the upstream's bytes
through the store's normal upload path (``Uploads.upload``: written, verified against
the digest, made durable, then linked) and hands each chunk to the clients that asked
before the first chunk arrived. Clients that come later, or wait in another worker,
read the blob from the store once it is there. The last chunk is held back from clients
until the store has verified the digest: a blob that fails verification reaches no
client whole.

``teed`` reads the upstream ahead of the store: clients receive each chunk as it
arrives, while the store hashes and writes at its own pace, up to ``_AHEAD_CHUNKS``
behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from dockyard.descriptor import Descriptor
from dockyard.proxy.leases import Leases
from dockyard.proxy.tasks import TaskSet

logger = logging.getLogger("dockyard.proxy")

#: Chunks queued for a client before the download waits for it (upstream chunks are
#: what arrived since the last read, up to ``network.BUFFER_SIZE``: 32 MiB at most).
_QUEUE_CHUNKS: Final = 32
#: Bytes of chunks queued for a client taken off its queue in one turn, at most.
_SEND_SIZE: Final = 1 << 20
#: Chunks read from the upstream that the store may not have taken yet (32 MiB at most).
_AHEAD_CHUNKS: Final = 32
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


async def teed(
    chunks: AsyncIterator[bytes], send: Callable[[bytes], Awaitable[None]]
) -> AsyncGenerator[bytes, None]:
    """``chunks``, read by a task of their own that hands each to ``send`` (the clients)
    as it arrives, up to ``_AHEAD_CHUNKS`` ahead of whoever consumes this (the store).

    An error reading ``chunks`` is raised here; if the consumer stops, the reading
    stops too.
    """
    queue: asyncio.Queue[bytes | Exception] = asyncio.Queue(_AHEAD_CHUNKS)

    async def read() -> None:
        try:
            async for chunk in chunks:
                await send(chunk)
                await queue.put(chunk)
        except Exception as error:
            await queue.put(error)
            return
        await queue.put(_END)

    reader = asyncio.create_task(read())
    try:
        while True:
            item = await queue.get()
            if isinstance(item, Exception):
                raise item
            if item is _END:
                return
            yield item
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def stream_from(
    fetch: BlobFetch,
    subscriber: Subscriber,
    resume: Callable[[int], Awaitable[AsyncIterator[bytes]]],
) -> AsyncIterator[bytes]:
    """The chunks of ``fetch`` as they arrive, the last one only once the store verified it.

    ``resume(offset)`` reads the stored blob from ``offset``, for a client that lagged.
    """
    # Each chunk received waits for the next one, and the last of all for the
    # verification: every other chunk goes to the client, uncopied, as the next arrives.
    held = b""
    sent = 0
    queue = subscriber.queue
    try:
        while not (subscriber.lagging and queue.empty()):
            # What else is queued already goes along, each chunk sent as it is: joining
            # them into fewer sends cost more CPU (a copy) than the sends it saved.
            pieces = [await queue.get()]
            size = len(pieces[0])
            while pieces[-1] is not _END and size < _SEND_SIZE and not queue.empty():
                pieces.append(queue.get_nowait())
                size += len(pieces[-1])
            ended = pieces[-1] is _END
            if ended:
                pieces.pop()
            if pieces:
                for piece in (held, *pieces[:-1]):
                    if piece:
                        yield piece
                        sent += len(piece)
                held = pieces[-1]
            if ended:
                break
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


__all__ = [
    "BlobFetch",
    "BlobFetches",
    "Download",
    "Present",
    "Subscriber",
    "stream_from",
    "teed",
]
