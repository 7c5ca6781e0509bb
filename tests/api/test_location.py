"""``Location`` headers: ``http.host``, then ``X-Forwarded-*``, then the request's Host."""

from __future__ import annotations

from typing import Any

import httpx

NAME = "library/app"


async def test_location_uses_the_request_host(client: httpx.AsyncClient) -> None:
    response = await client.post(f"/v2/{NAME}/blobs/uploads/")
    assert response.headers["location"].startswith(f"http://registry.test/v2/{NAME}/")


async def test_location_honours_forwarded_proto_and_host(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"/v2/{NAME}/blobs/uploads/",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "registry.example.com"},
    )
    assert response.headers["location"].startswith(
        f"https://registry.example.com/v2/{NAME}/blobs/uploads/"
    )


async def test_location_takes_the_first_forwarded_value(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"/v2/{NAME}/blobs/uploads/",
        headers={"X-Forwarded-Proto": "https, http", "X-Forwarded-Host": "a.example, b.example"},
    )
    assert response.headers["location"].startswith("https://a.example/")


async def test_forwarded_proto_alone_keeps_the_host(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"/v2/{NAME}/blobs/uploads/", headers={"X-Forwarded-Proto": "https"}
    )
    assert response.headers["location"].startswith("https://registry.test/")


async def test_configured_host_wins(make_client: Any) -> None:
    http = make_client(host="https://registry.example.org/")
    response = await http.post(
        f"/v2/{NAME}/blobs/uploads/", headers={"X-Forwarded-Host": "ignored.example"}
    )
    assert response.headers["location"].startswith(
        f"https://registry.example.org/v2/{NAME}/blobs/uploads/"
    )
