"""``OCI-Chunk-Min-Length`` is enforced, not only advertised: every chunk but the last
must be at least that long, so data after a shorter chunk is refused (416, the session
and its content unchanged), while a short last chunk completes the upload."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from api_helpers import digest_of, relative

from dockyard.assembly import api_settings
from dockyard.config import from_dict

MINIMUM = 1024


@pytest.fixture
def client(hostile_client: Callable[..., httpx.AsyncClient]) -> httpx.AsyncClient:
    return hostile_client(chunk_min_length=MINIMUM)


async def start(client: httpx.AsyncClient) -> str:
    response = await client.post("/v2/a/b/blobs/uploads/")
    assert response.headers["oci-chunk-min-length"] == str(MINIMUM)
    return str(response.headers["location"])


async def send(client: httpx.AsyncClient, location: str, data: bytes, at: int) -> httpx.Response:
    headers = {
        "Content-Type": "application/octet-stream",
        "Content-Range": f"{at}-{at + len(data) - 1}",
        "Content-Length": str(len(data)),
    }
    return await client.patch(relative(location), content=data, headers=headers)


async def test_chunk_after_a_short_chunk_is_refused(client: httpx.AsyncClient) -> None:
    location = await start(client)
    first = await send(client, location, b"a" * 100, 0)
    assert first.status_code == 202
    second = await send(client, first.headers["location"], b"b" * MINIMUM, 100)
    assert second.status_code == 416
    assert second.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
    assert second.headers["range"] == "0-99"


async def test_status_query_does_not_clear_the_short_chunk(client: httpx.AsyncClient) -> None:
    location = await start(client)
    first = await send(client, location, b"a" * 100, 0)
    status = await client.get(relative(first.headers["location"]))
    assert status.status_code == 204
    assert (await send(client, status.headers["location"], b"b", 100)).status_code == 416


async def test_final_put_with_data_after_a_short_chunk_is_refused(
    client: httpx.AsyncClient,
) -> None:
    location = await start(client)
    first = await send(client, location, b"a" * 100, 0)
    data = b"a" * 100 + b"tail"
    response = await client.put(
        relative(first.headers["location"], digest=digest_of(data)), content=b"tail"
    )
    assert response.status_code == 416


async def test_short_last_chunk_completes_the_upload(client: httpx.AsyncClient) -> None:
    location = await start(client)
    first = await send(client, location, b"a" * MINIMUM, 0)
    last = await send(client, first.headers["location"], b"b" * 10, MINIMUM)
    assert last.status_code == 202
    data = b"a" * MINIMUM + b"b" * 10
    done = await client.put(relative(last.headers["location"], digest=digest_of(data)))
    assert done.status_code == 201, done.text
    assert (await client.get(f"/v2/a/b/blobs/{digest_of(data)}")).content == data


async def test_without_a_minimum_small_chunks_are_fine(
    hostile_client: Callable[..., httpx.AsyncClient],
) -> None:
    client = hostile_client()
    location = (await client.post("/v2/a/b/blobs/uploads/")).headers["location"]
    first = await send(client, location, b"a", 0)
    assert (await send(client, first.headers["location"], b"b", 1)).status_code == 202


def test_http_chunkminlength_sets_the_advertised_minimum(tmp_path: Path) -> None:
    config = from_dict(
        {
            "version": "0.1",
            "storage": {"filesystem": {"rootdirectory": str(tmp_path)}},
            "http": {"secret": "s", "chunkminlength": MINIMUM},
        }
    )
    assert api_settings(config).chunk_min_length == MINIMUM
