"""Manifests that could mean two things: a Content-Type contradicting the body's
``mediaType``, or a member given twice at any depth, is 400 ``MANIFEST_INVALID`` for
every manifest kind, and nothing is stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from api_helpers import OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, digest_of
from cryptography.hazmat.primitives.asymmetric import ec

from dockyard.manifest.libtrust import sign_pretty
from dockyard.manifest.schema1 import go_json_indent

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
#: An annotation whose member the tests write twice, deep inside a document.
MARK = '"dup": "first"'


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data), **extra}


def image(media_type: str, config_type: str, layer_type: str) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(config_type, b"{}", annotations={"dup": "first"}),
        "layers": [descriptor(layer_type, b"layer")],
    }


def index(media_type: str, child_type: str) -> dict[str, Any]:
    child = descriptor(child_type, b"child", annotations={"dup": "first"})
    child["platform"] = {"architecture": "amd64", "os": "linux"}
    return {"schemaVersion": 2, "mediaType": media_type, "manifests": [child]}


KINDS: dict[str, dict[str, Any]] = {
    OCI_MANIFEST: image(OCI_MANIFEST, OCI_CONFIG, OCI_LAYER),
    OCI_INDEX: index(OCI_INDEX, OCI_MANIFEST),
    DOCKER_MANIFEST: image(DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER),
    DOCKER_LIST: index(DOCKER_LIST, DOCKER_MANIFEST),
}


SCHEMA1_DOCUMENT: dict[str, Any] = {
    "schemaVersion": 1,
    "name": "a/b",
    "tag": "latest",
    "architecture": "amd64",
    "fsLayers": [{"blobSum": digest_of(b"layer")}],
    "history": [{"v1Compatibility": "{}", "dup": "first"}],
}


def schema1_body(where: str | None = None) -> bytes:
    """A schema1 manifest signed over its payload, the payload duplicated ``where`` asked:
    the signature holds, so only the duplicate can be at fault."""
    payload = go_json_indent(SCHEMA1_DOCUMENT).encode()
    if where is not None:
        payload = duplicated(payload, where)
    return sign_pretty(payload, ec.generate_private_key(ec.SECP256R1()))


def body_of(kind: str, duplicate: str | None = None) -> bytes:
    if kind == SCHEMA1_SIGNED:
        return schema1_body(duplicate)
    body = json.dumps(KINDS[kind], indent=2).encode()
    return body if duplicate is None else duplicated(body, duplicate)


def duplicated(body: bytes, where: str) -> bytes:
    text = body.decode()
    if where == "top":
        # The first member of the document, written twice with another value.
        head, rest = text.split("{", 1)
        first = rest.split(",", 1)[0].strip()
        name = first.split(":", 1)[0]
        return f"{head}{{{name}: 7, {rest}".encode()
    assert MARK in text.replace('":"', '": "')
    return text.replace(MARK, f'{MARK}, "dup": "second"', 1).encode()


ALL_KINDS = [*KINDS, SCHEMA1_SIGNED]


async def assert_manifest_invalid(client: httpx.AsyncClient, response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["code"] == "MANIFEST_INVALID"
    listed = await client.get("/v2/a/b/tags/list")
    assert listed.status_code == 404, "a refused manifest left a tag behind"


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize("where", ["top", "nested"])
async def test_duplicate_member_is_manifest_invalid_for_every_kind(
    hostile_client: Callable[..., httpx.AsyncClient], kind: str, where: str
) -> None:
    client = hostile_client()
    body = body_of(kind, where)
    response = await client.put(
        "/v2/a/b/manifests/latest", content=body, headers={"Content-Type": kind}
    )
    await assert_manifest_invalid(client, response)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize(
    "content_type", ["application/json", "application/octet-stream", "text/plain"]
)
async def test_content_type_contradicting_media_type_is_manifest_invalid(
    hostile_client: Callable[..., httpx.AsyncClient], kind: str, content_type: str
) -> None:
    client = hostile_client()
    response = await client.put(
        "/v2/a/b/manifests/latest", content=body_of(kind), headers={"Content-Type": content_type}
    )
    await assert_manifest_invalid(client, response)


@pytest.mark.parametrize(
    ("kind", "other"), [(k, o) for k in ALL_KINDS for o in ALL_KINDS if k != o]
)
async def test_manifest_labelled_as_another_kind_is_manifest_invalid(
    hostile_client: Callable[..., httpx.AsyncClient], kind: str, other: str
) -> None:
    client = hostile_client()
    response = await client.put(
        "/v2/a/b/manifests/latest", content=body_of(kind), headers={"Content-Type": other}
    )
    await assert_manifest_invalid(client, response)
