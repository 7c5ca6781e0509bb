"""Digests whose hex part does not fit their algorithm are 400 ``DIGEST_INVALID`` on
every endpoint that takes one: blobs, manifests, referrers, uploads and mounts."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from api_helpers import push_blob, push_image, relative

BAD_DIGESTS = [
    "sha512:" + "a" * 64,  # a sha256-length hex part after sha512
    "sha256:" + "a" * 128,  # a sha512-length hex part after sha256
    "sha256:" + "a" * 63,
    "sha256:" + "a" * 65,
    "sha512:" + "a" * 127,
    "sha256:" + "A" * 64,
    "sha384:" + "a" * 96,
]


def assert_digest_invalid(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    if response.request.method != "HEAD":
        assert response.json()["errors"][0]["code"] == "DIGEST_INVALID"


@pytest.fixture
async def client(hostile_client: Callable[..., httpx.AsyncClient]) -> httpx.AsyncClient:
    """A registry holding ``a/b:latest``, so that only the digest can be at fault."""
    http = hostile_client(delete_enabled=True)
    await push_image(http, "a/b", "latest")
    return http


@pytest.mark.parametrize("digest", BAD_DIGESTS)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/a/b/blobs/{digest}"),
        ("HEAD", "/v2/a/b/blobs/{digest}"),
        ("DELETE", "/v2/a/b/blobs/{digest}"),
        ("GET", "/v2/a/b/manifests/{digest}"),
        ("HEAD", "/v2/a/b/manifests/{digest}"),
        ("DELETE", "/v2/a/b/manifests/{digest}"),
        ("PUT", "/v2/a/b/manifests/{digest}"),
        ("GET", "/v2/a/b/referrers/{digest}"),
        ("POST", "/v2/a/b/blobs/uploads/?digest={digest}"),
        ("POST", "/v2/a/b/blobs/uploads/?mount={digest}&from=a/b"),
    ],
)
async def test_misfit_digest_is_digest_invalid(
    client: httpx.AsyncClient, method: str, path: str, digest: str
) -> None:
    response = await client.request(method, path.format(digest=digest), content=b"{}")
    assert_digest_invalid(response)


@pytest.mark.parametrize("digest", BAD_DIGESTS)
async def test_misfit_digest_completing_an_upload_is_digest_invalid(
    client: httpx.AsyncClient, digest: str
) -> None:
    started = await client.post("/v2/a/b/blobs/uploads/")
    response = await client.put(relative(started.headers["location"], digest=digest), content=b"x")
    assert_digest_invalid(response)
    still_open = await client.get(relative(started.headers["location"]))
    assert still_open.status_code == 204


async def test_mount_of_a_valid_unknown_digest_still_opens_an_upload_session(
    client: httpx.AsyncClient,
) -> None:
    digest = await push_blob(client, "c/d", b"elsewhere")
    unknown = "sha256:" + "0" * 64
    response = await client.post(f"/v2/a/b/blobs/uploads/?mount={unknown}&from=c/d")
    assert response.status_code == 202
    mounted = await client.post(f"/v2/a/b/blobs/uploads/?mount={digest}&from=c/d")
    assert mounted.status_code == 201
