"""Whole flows behind token auth: a push, a cross-repository mount, anonymous pulls."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from auth_helpers import ISSUER, REALM, SERVICE, basic, build_authorizer, write_htpasswd

from dockyard.auth.base import Authorizer

RULES: list[dict[str, Any]] = [
    {"repositories": "${user}/**", "users": ["*"], "actions": ["*"]},
    {"repositories": "public/**", "users": ["*"], "anonymous": True, "actions": ["pull"]},
]


@pytest.fixture
def client(
    tmp_path: Path, app_client: Callable[[Authorizer | None], httpx.AsyncClient]
) -> httpx.AsyncClient:
    users = write_htpasswd(tmp_path / "htpasswd", {"alice": "a-pw", "bob": "b-pw"})
    section = {
        "token": {"realm": REALM, "service": SERVICE, "issuer": ISSUER},
        "tokenserver": {"htpasswd": str(users), "rules": RULES},
    }
    return app_client(build_authorizer(section, data_dir=tmp_path / "data"))


async def token(client: httpx.AsyncClient, user: str | None, *scopes: str) -> dict[str, str]:
    params: list[tuple[str, str | int | float | bool | None]] = [
        ("service", SERVICE),
        *(("scope", s) for s in scopes),
    ]
    headers = {"authorization": basic(user, f"{user[0]}-pw")} if user else {}
    response = await client.get("/auth/token", params=params, headers=headers)
    assert response.status_code == 200
    return {"authorization": "Bearer " + response.json()["token"]}


async def push_blob(
    client: httpx.AsyncClient, headers: dict[str, str], repo: str, data: bytes
) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    response = await client.post(
        f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=data, headers=headers
    )
    assert response.status_code == 201, response.text
    return digest


async def test_user_pushes_and_pulls_an_image_in_their_namespace(client: httpx.AsyncClient) -> None:
    headers = await token(client, "alice", "repository:alice/app:pull,push")
    config = b"{}"
    config_digest = await push_blob(client, headers, "alice/app", config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": 2,
            },
            "layers": [],
        }
    ).encode()
    put = await client.put(
        "/v2/alice/app/manifests/v1",
        content=manifest,
        headers={**headers, "content-type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert put.status_code == 201, put.text
    assert (await client.get("/v2/alice/app/manifests/v1", headers=headers)).status_code == 200


async def test_mount_from_a_repository_the_caller_cannot_pull_falls_back_to_an_upload(
    client: httpx.AsyncClient,
) -> None:
    alice = await token(client, "alice", "repository:alice/app:pull,push")
    digest = await push_blob(client, alice, "alice/app", b"private layer")
    bob = await token(client, "bob", "repository:bob/app:pull,push", "repository:alice/app:pull")
    mount = await client.post(
        "/v2/bob/app/blobs/uploads/", params={"mount": digest, "from": "alice/app"}, headers=bob
    )
    assert mount.status_code == 202
    assert (await client.head(f"/v2/bob/app/blobs/{digest}", headers=bob)).status_code == 404


async def test_mount_from_a_readable_repository_links_the_blob(client: httpx.AsyncClient) -> None:
    alice = await token(
        client, "alice", "repository:alice/app:pull,push", "repository:alice/copy:pull,push"
    )
    digest = await push_blob(client, alice, "alice/app", b"shared layer")
    mount = await client.post(
        "/v2/alice/copy/blobs/uploads/",
        params={"mount": digest, "from": "alice/app"},
        headers=alice,
    )
    assert mount.status_code == 201


async def test_anonymous_caller_pulls_public_but_cannot_push(client: httpx.AsyncClient) -> None:
    bob = await token(client, "bob", "repository:bob/x:push,pull")
    await push_blob(client, bob, "bob/x", b"x")
    anonymous = await token(client, None, "repository:public/app:pull,push")
    assert (await client.get("/v2/public/app/tags/list", headers=anonymous)).status_code == 404
    response = await client.post("/v2/public/app/blobs/uploads/", headers=anonymous)
    assert response.status_code == 401
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
