"""Read-only mode: every write is refused with 405 UNSUPPORTED, reads go on."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from api_helpers import DUMMY_DIGEST, OCI_MANIFEST, error_codes, push_image

NAME = "library/app"


@pytest.fixture
async def read_only(client: httpx.AsyncClient, make_client: Any) -> httpx.AsyncClient:
    await push_image(client, NAME, "v1")
    http: httpx.AsyncClient = make_client(read_only=True)
    return http


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"/v2/{NAME}/blobs/uploads/"),
        ("PATCH", f"/v2/{NAME}/blobs/uploads/some-id"),
        ("PUT", f"/v2/{NAME}/blobs/uploads/some-id?digest={DUMMY_DIGEST}"),
        ("DELETE", f"/v2/{NAME}/blobs/uploads/some-id"),
        ("PUT", f"/v2/{NAME}/manifests/v2"),
        ("DELETE", f"/v2/{NAME}/manifests/v1"),
        ("DELETE", f"/v2/{NAME}/blobs/{DUMMY_DIGEST}"),
    ],
)
async def test_writes_are_refused(read_only: httpx.AsyncClient, method: str, path: str) -> None:
    response = await read_only.request(
        method, path, content=b"{}", headers={"Content-Type": OCI_MANIFEST}
    )
    assert response.status_code == 405
    assert error_codes(response) == ["UNSUPPORTED"]
    assert "read-only" in response.json()["errors"][0]["message"]


async def test_reads_still_work(read_only: httpx.AsyncClient) -> None:
    assert (await read_only.get(f"/v2/{NAME}/manifests/v1")).status_code == 200
    assert (await read_only.get(f"/v2/{NAME}/tags/list")).status_code == 200
    assert (await read_only.get("/v2/_catalog")).status_code == 200
