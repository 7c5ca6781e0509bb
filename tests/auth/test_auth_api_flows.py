"""Every API flow works unchanged behind authentication, in htpasswd and token modes.

The client answers challenges the way docker does (``RegistryAuth``); the flows are
those of the OCI conformance suite: push (monolithic, chunked, mount), pull, discovery,
management.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from auth_helpers import ISSUER, REALM, SERVICE, RegistryAuth, build_authorizer, write_htpasswd

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
USERS = {"admin": "admin-pw"}


@pytest.fixture(params=["htpasswd", "token"])
def client(
    request: pytest.FixtureRequest, tmp_path: Path, app_client: Callable[..., httpx.AsyncClient]
) -> httpx.AsyncClient:
    users = write_htpasswd(tmp_path / "htpasswd", USERS)
    if request.param == "htpasswd":
        section: dict[str, object] = {"htpasswd": {"path": str(users)}}
    else:
        section = {
            "token": {"realm": REALM, "service": SERVICE, "issuer": ISSUER},
            "tokenserver": {
                "htpasswd": str(users),
                "rules": [
                    {"repositories": "**", "users": ["admin"], "actions": ["*"]},
                    {"registry": "catalog", "users": ["admin"], "actions": ["*"]},
                ],
            },
        }
    http = app_client(build_authorizer(section, data_dir=tmp_path / "data"))
    http.auth = RegistryAuth(("admin", "admin-pw"))
    return http


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def follow(location: str, **params: str) -> str:
    parts = urlsplit(location)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return parts.path + (f"?{query}" if query else "")


async def monolithic(client: httpx.AsyncClient, name: str, data: bytes) -> str:
    digest = digest_of(data)
    started = await client.post(f"/v2/{name}/blobs/uploads/")
    assert started.status_code == 202, started.text
    done = await client.put(follow(started.headers["location"], digest=digest), content=data)
    assert done.status_code == 201, done.text
    return digest


async def image(client: httpx.AsyncClient, name: str, tag: str) -> tuple[bytes, str]:
    config = b'{"architecture":"amd64","os":"linux"}'
    layer = b"layer of " + name.encode()
    await monolithic(client, name, config)
    await monolithic(client, name, layer)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest_of(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest_of(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    put = await client.put(
        f"/v2/{name}/manifests/{tag}", content=body, headers={"content-type": OCI_MANIFEST}
    )
    assert put.status_code == 201, put.text
    return body, digest_of(body)


async def test_base_endpoint(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v2/")).status_code == 200


async def test_push_and_pull_an_image(client: httpx.AsyncClient) -> None:
    body, digest = await image(client, "flows/app", "v1")
    got = await client.get("/v2/flows/app/manifests/v1", headers={"accept": OCI_MANIFEST})
    assert got.status_code == 200
    assert got.content == body
    assert (await client.head(f"/v2/flows/app/manifests/{digest}")).status_code == 200


async def test_chunked_upload(client: httpx.AsyncClient) -> None:
    data = b"0123456789" * 100
    started = await client.post("/v2/flows/chunks/blobs/uploads/")
    location = started.headers["location"]
    for start in range(0, len(data), 400):
        chunk = data[start : start + 400]
        patched = await client.patch(
            follow(location),
            content=chunk,
            headers={
                "content-type": "application/octet-stream",
                "content-range": f"{start}-{start + len(chunk) - 1}",
            },
        )
        assert patched.status_code == 202, patched.text
        location = patched.headers["location"]
    status = await client.get(follow(location))
    assert status.status_code == 204
    assert status.headers["range"] == f"0-{len(data) - 1}"
    done = await client.put(follow(location, digest=digest_of(data)))
    assert done.status_code == 201, done.text
    blob = await client.get(f"/v2/flows/chunks/blobs/{digest_of(data)}")
    assert blob.content == data


async def test_cancel_an_upload(client: httpx.AsyncClient) -> None:
    started = await client.post("/v2/flows/cancel/blobs/uploads/")
    assert (await client.delete(follow(started.headers["location"]))).status_code == 204


async def test_mount_a_blob_across_repositories(client: httpx.AsyncClient) -> None:
    digest = await monolithic(client, "flows/source", b"shared")
    params = {"mount": digest, "from": "flows/source"}
    mounted = await client.post("/v2/flows/target/blobs/uploads/", params=params)
    assert mounted.status_code == 201, mounted.text


async def test_mount_challenge_names_the_source_repository(client: httpx.AsyncClient) -> None:
    digest = await monolithic(client, "flows/source", b"shared")
    params = {"mount": digest, "from": "flows/source"}
    challenge = await client.post(
        "/v2/flows/target/blobs/uploads/", params=params, auth=httpx.Auth()
    )
    header = challenge.headers["www-authenticate"]
    if header.startswith("Bearer"):
        assert "repository:flows/source:pull" in header
    else:
        assert header.startswith("Basic")


async def test_tags_catalog_and_referrers(client: httpx.AsyncClient) -> None:
    _, digest = await image(client, "flows/listed", "v1")
    await image(client, "flows/listed", "v2")
    tags = await client.get("/v2/flows/listed/tags/list", params={"n": "1"})
    assert tags.json()["tags"] == ["v1"]
    assert (await client.get("/v2/_catalog")).json()["repositories"] == ["flows/listed"]
    referrers = await client.get(f"/v2/flows/listed/referrers/{digest}")
    assert referrers.status_code == 200


async def test_delete_manifest_and_blob(client: httpx.AsyncClient) -> None:
    _, digest = await image(client, "flows/doomed", "v1")
    assert (await client.delete(f"/v2/flows/doomed/manifests/{digest}")).status_code == 202
    layer = digest_of(b"layer of flows/doomed")
    assert (await client.delete(f"/v2/flows/doomed/blobs/{layer}")).status_code == 202
    assert (await client.get(f"/v2/flows/doomed/manifests/{digest}")).status_code == 404
