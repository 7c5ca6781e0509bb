"""Read-only mode and disabled deletes refuse writes whatever a token grants."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from auth_helpers import ISSUER, REALM, SERVICE, build_authorizer, ec_key, mint

from dockyard.auth.keys import public_jwk

SIGNER = ec_key()
EVERYTHING = [{"type": "repository", "name": "a/b", "actions": ["*"]}]
DIGEST = "sha256:" + "0" * 64


@pytest.fixture
def build(
    tmp_path: Path, app_client: Callable[..., httpx.AsyncClient]
) -> Callable[..., httpx.AsyncClient]:
    key = tmp_path / "jwks.json"
    key.write_text(json.dumps({"keys": [public_jwk(SIGNER.public_key())]}))
    section = {"token": {"realm": REALM, "service": SERVICE, "issuer": ISSUER, "jwks": str(key)}}

    def make(**settings: bool) -> httpx.AsyncClient:
        client = app_client(build_authorizer(section, data_dir=tmp_path), **settings)
        client.headers["authorization"] = f"Bearer {mint(SIGNER, access=EVERYTHING)}"
        return client

    return make


async def test_read_only_mode_refuses_a_push_with_a_push_token(
    build: Callable[..., httpx.AsyncClient],
) -> None:
    client = build(read_only=True)
    response = await client.post("/v2/a/b/blobs/uploads/")
    assert response.status_code == 405
    assert response.json()["errors"][0]["code"] == "UNSUPPORTED"
    assert (await client.get("/v2/a/b/tags/list")).status_code == 404


async def test_read_only_mode_refuses_a_delete_with_a_delete_token(
    build: Callable[..., httpx.AsyncClient],
) -> None:
    response = await build(read_only=True).delete(f"/v2/a/b/manifests/{DIGEST}")
    assert response.status_code == 405


async def test_disabled_deletes_are_refused_with_a_delete_token(
    build: Callable[..., httpx.AsyncClient],
) -> None:
    client = build(delete_enabled=False)
    for path in (f"/v2/a/b/manifests/{DIGEST}", f"/v2/a/b/blobs/{DIGEST}"):
        response = await client.delete(path)
        assert response.status_code == 405
        assert response.json()["errors"][0]["code"] == "UNSUPPORTED"
