"""Upload properties: any split of the bytes commits to the same blob; racing chunks lose."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from storage_helpers import chunks

from dockyard.digest import Digest
from dockyard.errors import UploadOffsetMismatch
from dockyard.storage.driver.inmemory import InMemoryDriver
from dockyard.storage.registry import StorageRegistry, StorageRepository


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests=st.lists(st.lists(st.binary(max_size=300_000), max_size=4), min_size=1, max_size=4))
async def test_any_split_into_requests_and_chunks_commits_the_whole(
    requests: list[list[bytes]],
) -> None:
    repo = StorageRegistry(InMemoryDriver()).repository("app")
    status = await repo.uploads.create()
    offset = 0
    for parts in requests[:-1]:
        offset = (await repo.uploads.append(status.id, offset, chunks(*parts))).offset
    data = b"".join(b"".join(parts) for parts in requests)
    descriptor = await repo.uploads.commit(
        status.id, Digest.of(data), len(data), chunks(*requests[-1])
    )
    assert descriptor.size == len(data)
    assert descriptor.digest == Digest.of(data)


async def _slow(data: bytes, gate: asyncio.Event) -> AsyncIterator[bytes]:
    yield data[:10]
    await gate.wait()
    yield data[10:]


async def test_concurrent_chunks_at_one_offset_one_wins(repo: StorageRepository) -> None:
    status = await repo.uploads.create()
    gate = asyncio.Event()
    first = asyncio.create_task(repo.uploads.append(status.id, 0, _slow(b"a" * 100, gate)))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(repo.uploads.append(status.id, 0, chunks(b"b" * 50)))
    await asyncio.sleep(0.01)
    gate.set()
    assert (await first).offset == 100
    with pytest.raises(UploadOffsetMismatch) as caught:
        await second
    assert caught.value.expected == 100
    descriptor = await repo.uploads.commit(status.id, Digest.of(b"a" * 100))
    assert descriptor.size == 100
