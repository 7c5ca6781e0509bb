"""``Location`` headers follow ``X-Forwarded-Proto``/``-Host`` only when they are a plain
``http``/``https`` and a syntactically valid ``host[:port]``; anything else is ignored."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from dockyard.api.context import is_valid_host

HOSTILE_PROTOS = [
    "javascript:alert(1)//",
    "javascript",
    "ftp",
    "https://evil.example",
    "http\r\nSet-Cookie: x=y",
    "data:text/html,",
    "",
]
HOSTILE_HOSTS = [
    "javascript:alert(1)//",
    "evil.example/path",
    "evil.example?x=1",
    "evil.example#x",
    "user@evil.example",
    "evil example",
    "evil.example:99999",
    "evil.example:",
    "[not-ipv6]",
    "-evil.example",
    "a" * 300,
    "evil.example\\@good",
    "",
]


async def upload_location(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    response = await client.post("/v2/a/b/blobs/uploads/", headers=headers)
    assert response.status_code == 202
    location: str = response.headers["location"]
    return location


@pytest.mark.parametrize("proto", HOSTILE_PROTOS)
async def test_hostile_forwarded_proto_is_ignored(
    hostile_client: Callable[..., httpx.AsyncClient], proto: str
) -> None:
    location = await upload_location(hostile_client(), {"x-forwarded-proto": proto})
    assert location.startswith("http://registry.test/v2/a/b/blobs/uploads/")


@pytest.mark.parametrize("host", HOSTILE_HOSTS)
async def test_hostile_forwarded_host_is_ignored(
    hostile_client: Callable[..., httpx.AsyncClient], host: str
) -> None:
    headers = {"x-forwarded-proto": "https", "x-forwarded-host": host}
    location = await upload_location(hostile_client(), headers)
    assert location.startswith("https://registry.test/v2/a/b/blobs/uploads/")


@pytest.mark.parametrize("host", ["javascript:alert(1)//", "evil.example/x", "a b"])
async def test_hostile_host_header_falls_back_to_the_server_address(
    hostile_client: Callable[..., httpx.AsyncClient], host: str
) -> None:
    location = await upload_location(hostile_client(), {"host": host})
    assert location.startswith("http://registry.test/v2/")  # the ASGI server address


@pytest.mark.parametrize(
    ("proto", "host", "base"),
    [
        ("HTTPS", "registry.example.com", "https://registry.example.com"),
        ("https, http", "registry.example.com:8443, other", "https://registry.example.com:8443"),
        ("http", "10.0.0.5:5000", "http://10.0.0.5:5000"),
        ("https", "[2001:db8::1]:443", "https://[2001:db8::1]:443"),
        ("https", "registry.example.com.", "https://registry.example.com."),
    ],
)
async def test_well_formed_forwarded_headers_are_honoured(
    hostile_client: Callable[..., httpx.AsyncClient], proto: str, host: str, base: str
) -> None:
    headers = {"x-forwarded-proto": proto, "x-forwarded-host": host}
    location = await upload_location(hostile_client(), headers)
    assert location.startswith(f"{base}/v2/a/b/blobs/uploads/")


@pytest.mark.parametrize("host", ["[2001:db8::zz]", "[1.2.3.4]", "host:0", "host:65536"])
def test_malformed_hosts_are_not_valid(host: str) -> None:
    assert not is_valid_host(host)
