"""The HTTP API over a Redis-cached registry: clients see storage's answers, with the
cache cold, flushed, stale after a delete, or with Redis killed mid-test."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from redis.asyncio import Redis
from redis_server import RedisServer

from dockyard.api.app import create_app
from dockyard.api.settings import ApiSettings
from dockyard.storage.registry import StorageRegistry

REPO = "library/app"
LAYER = b"cached layer " * 1000


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
async def client(registry: StorageRegistry) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(registry, ApiSettings(secret=b"cache-test-secret", delete_enabled=True))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as http:
        yield http


async def push(client: httpx.AsyncClient, data: bytes) -> str:
    digest = digest_of(data)
    started = await client.post(f"/v2/{REPO}/blobs/uploads/")
    assert started.status_code == 202, started.text
    location = urlsplit(started.headers["location"])
    done = await client.put(
        f"{location.path}?{location.query}&digest={digest}",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert done.status_code == 201, done.text
    return digest


async def test_head_and_get_are_right_with_the_cache_cold_and_warm(
    client: httpx.AsyncClient,
) -> None:
    digest = await push(client, LAYER)
    for _ in range(2):
        head = await client.head(f"/v2/{REPO}/blobs/{digest}")
        assert head.status_code == 200
        assert head.headers["content-length"] == str(len(LAYER))
        got = await client.get(f"/v2/{REPO}/blobs/{digest}")
        assert got.content == LAYER


async def test_head_is_right_after_flushall(client: httpx.AsyncClient, redis_client: Redis) -> None:
    digest = await push(client, LAYER)
    assert (await client.head(f"/v2/{REPO}/blobs/{digest}")).status_code == 200
    await redis_client.flushall()
    head = await client.head(f"/v2/{REPO}/blobs/{digest}")
    assert (head.status_code, head.headers["content-length"]) == (200, str(len(LAYER)))


async def test_deleted_blob_is_unknown_although_it_was_cached(client: httpx.AsyncClient) -> None:
    digest = await push(client, LAYER)
    assert (await client.head(f"/v2/{REPO}/blobs/{digest}")).status_code == 200
    assert (await client.delete(f"/v2/{REPO}/blobs/{digest}")).status_code == 202
    assert (await client.head(f"/v2/{REPO}/blobs/{digest}")).status_code == 404
    missing = await client.get(f"/v2/{REPO}/blobs/{digest}")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "BLOB_UNKNOWN"


async def test_requests_succeed_after_redis_is_killed(
    client: httpx.AsyncClient, redis_server: RedisServer
) -> None:
    cached = await push(client, LAYER)
    assert (await client.head(f"/v2/{REPO}/blobs/{cached}")).status_code == 200
    redis_server.kill()
    assert (await client.head(f"/v2/{REPO}/blobs/{cached}")).status_code == 200
    fresh = await push(client, b"pushed without redis")
    assert (await client.get(f"/v2/{REPO}/blobs/{fresh}")).content == b"pushed without redis"
    assert (await client.delete(f"/v2/{REPO}/blobs/{cached}")).status_code == 202
    assert (await client.head(f"/v2/{REPO}/blobs/{cached}")).status_code == 404
