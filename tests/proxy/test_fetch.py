"""A shared download: one per key, its first clients fed while it is still running."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.proxy.fetch import BlobFetches, stream_from, teed
from dockyard.proxy.leases import FileLeases

DIGEST = Digest.of(b"first-second")


async def test_first_client_receives_bytes_before_the_download_has_finished(
    tmp_path: Path,
) -> None:
    fetches = BlobFetches(FileLeases(tmp_path))
    release = asyncio.Event()

    async def present() -> bool:
        return False

    async def download(
        started: Callable[[int], None], send: Callable[[bytes], Awaitable[None]]
    ) -> Descriptor:
        started(12)
        # Each chunk goes out once the next has arrived (the last once verified); the
        # client takes the first before the second comes.
        await send(b"fir")
        await asyncio.sleep(0.05)
        await send(b"st-")
        await release.wait()
        await send(b"second")
        return Descriptor("application/octet-stream", DIGEST, 12)

    fetch = fetches.fetch("key", present, download)
    subscriber = fetch.subscribe()
    assert subscriber is not None

    async def never(offset: int) -> AsyncIterator[bytes]:
        raise AssertionError("the client kept up; nothing is read from the store")

    stream = stream_from(fetch, subscriber, never)
    first = await asyncio.wait_for(anext(stream), 5)
    assert not fetch.done.done()
    release.set()
    rest = b"".join([chunk async for chunk in stream])

    assert first + rest == b"first-second"
    await fetches.close()


async def test_requests_for_one_key_share_one_download(tmp_path: Path) -> None:
    fetches = BlobFetches(FileLeases(tmp_path))
    downloads = 0

    async def present() -> bool:
        return False

    async def download(
        started: Callable[[int], None], send: Callable[[bytes], Awaitable[None]]
    ) -> Descriptor:
        nonlocal downloads
        downloads += 1
        await asyncio.sleep(0.05)
        return Descriptor("application/octet-stream", DIGEST, 12)

    runs = [fetches.fetch("key", present, download) for _ in range(10)]
    await asyncio.gather(*(run.done for run in runs))

    assert len({id(run) for run in runs}) == 1
    assert downloads == 1


async def test_teed_chunks_reach_the_clients_and_the_store_and_an_upstream_error_the_store() -> (
    None
):
    async def upstream() -> AsyncIterator[bytes]:
        yield b"one"
        yield b"two"
        raise ConnectionError("upstream went away")

    sent: list[bytes] = []

    async def send(chunk: bytes) -> None:
        sent.append(chunk)

    stored: list[bytes] = []

    async def store() -> None:
        async with contextlib.aclosing(teed(upstream(), send)) as chunks:
            async for chunk in chunks:
                stored.append(chunk)

    with pytest.raises(ConnectionError):
        await store()

    assert sent == stored == [b"one", b"two"]


async def test_store_that_stops_taking_chunks_stops_the_reading_of_the_upstream() -> None:
    closed = asyncio.Event()

    async def upstream() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"x"
                await asyncio.sleep(0)
        finally:
            closed.set()

    async def send(chunk: bytes) -> None:
        pass

    async with contextlib.aclosing(teed(upstream(), send)) as chunks:
        async for _ in chunks:
            break

    await asyncio.wait_for(closed.wait(), 5)
