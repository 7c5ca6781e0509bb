"""Reference settings that were parsed but not enforced now are: layer URL allow/deny
lists, ``catalog.maxentries`` and ``validation.manifests.indexes.platforms``, each
configured through ``config.yml`` and checked through the built application."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, digest_of, push_blob, push_image

from dockyard.assembly import api_settings, build_app
from dockyard.config import from_dict

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
ALLOWED = "https://layers.example.com/base.tar.gz"
DENIED = "https://layers.example.com/private/base.tar.gz"
ELSEWHERE = "https://elsewhere.example.org/base.tar.gz"
URLS = {
    "allow": [r"^https://layers\.example\.com/"],
    "deny": [r"^https://layers\.example\.com/private/"],
}


@pytest.fixture
async def registry() -> AsyncIterator[Callable[[dict[str, Any]], httpx.AsyncClient]]:
    """A client of the application ``build_app`` makes from a configuration tree."""
    opened: list[httpx.AsyncClient] = []

    def build(extra: dict[str, Any]) -> httpx.AsyncClient:
        tree = {"version": 0.1, "storage": {"inmemory": {}}, "http": {"secret": "s"}, **extra}
        app = build_app(from_dict(tree))
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://registry.test"
        )
        opened.append(client)
        return client

    yield build
    for client in opened:
        await client.aclose()


async def push_with_external_layer(
    client: httpx.AsyncClient, media_type: str, url: str
) -> httpx.Response:
    docker = media_type == DOCKER_MANIFEST
    config = b'{"architecture":"amd64","os":"linux"}'
    await push_blob(client, "a/b", config)
    layer = {
        "mediaType": DOCKER_FOREIGN if docker else OCI_NONDISTRIBUTABLE,
        "digest": digest_of(b"external layer"),
        "size": 14,
        "urls": [url],
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
            "digest": digest_of(config),
            "size": len(config),
        },
        "layers": [layer],
    }
    return await client.put(
        "/v2/a/b/manifests/latest",
        content=json.dumps(manifest).encode(),
        headers={"Content-Type": media_type},
    )


@pytest.mark.parametrize("kind", [OCI_MANIFEST, DOCKER_MANIFEST])
@pytest.mark.parametrize("url", [DENIED, ELSEWHERE])
async def test_layer_url_outside_the_allow_list_or_in_the_deny_list_is_manifest_invalid(
    registry: Callable[[dict[str, Any]], httpx.AsyncClient], kind: str, url: str
) -> None:
    client = registry({"validation": {"manifests": {"urls": URLS}}})
    response = await push_with_external_layer(client, kind, url)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["code"] == "MANIFEST_INVALID"
    assert (await client.get("/v2/a/b/manifests/latest")).status_code == 404


@pytest.mark.parametrize("kind", [OCI_MANIFEST, DOCKER_MANIFEST])
async def test_layer_url_in_the_allow_list_is_accepted(
    registry: Callable[[dict[str, Any]], httpx.AsyncClient], kind: str
) -> None:
    client = registry({"validation": {"manifests": {"urls": URLS}}})
    response = await push_with_external_layer(client, kind, ALLOWED)
    assert response.status_code == 201, response.text


async def test_without_url_lists_any_http_layer_url_is_accepted(
    registry: Callable[[dict[str, Any]], httpx.AsyncClient],
) -> None:
    response = await push_with_external_layer(registry({}), OCI_MANIFEST, ELSEWHERE)
    assert response.status_code == 201, response.text


async def test_two_registries_in_one_process_each_follow_their_own_url_policy(
    registry: Callable[[dict[str, Any]], httpx.AsyncClient],
) -> None:
    strict = registry({"validation": {"manifests": {"urls": URLS}}})
    lenient = registry({})
    assert (await push_with_external_layer(lenient, OCI_MANIFEST, ELSEWHERE)).status_code == 201
    assert (await push_with_external_layer(strict, OCI_MANIFEST, ELSEWHERE)).status_code == 400
    assert (await push_with_external_layer(lenient, OCI_MANIFEST, ELSEWHERE)).status_code == 201


async def test_catalog_n_above_maxentries_is_pagination_number_invalid(
    registry: Callable[[dict[str, Any]], httpx.AsyncClient],
) -> None:
    client = registry({"catalog": {"maxentries": 2}})
    response = await client.get("/v2/_catalog?n=3")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "PAGINATION_NUMBER_INVALID"


async def test_catalog_pages_hold_at_most_maxentries(
    registry: Callable[[dict[str, Any]], httpx.AsyncClient],
) -> None:
    client = registry({"catalog": {"maxentries": 2}})
    for name in ("a/one", "a/two", "a/three"):
        await push_image(client, name)
    first = await client.get("/v2/_catalog")
    assert first.json()["repositories"] == ["a/one", "a/three"]
    assert "last=a%2Fthree" in first.headers["link"]
    assert (await client.get("/v2/_catalog?n=2")).status_code == 200


def test_maxentries_reaches_the_api_settings() -> None:
    tree = {"version": 0.1, "storage": {"inmemory": {}}, "catalog": {"maxentries": 7}}
    assert api_settings(from_dict(tree)).catalog_max_entries == 7


def sparse_index(children: list[tuple[str, str]]) -> bytes:
    """An OCI index of children never pushed, one per ``(architecture, os)``."""
    manifests = [
        {
            "mediaType": OCI_MANIFEST,
            "digest": digest_of(f"{arch}/{os_name}".encode()),
            "size": 100,
            "platform": {"architecture": arch, "os": os_name},
        }
        for arch, os_name in children
    ]
    document = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    return json.dumps(document).encode()


async def put_index(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await client.put(
        "/v2/a/b/manifests/multi", content=body, headers={"Content-Type": OCI_INDEX}
    )


def indexes(platforms: str, **extra: Any) -> dict[str, Any]:
    return {"validation": {"manifests": {"indexes": {"platforms": platforms, **extra}}}}


async def test_index_with_children_never_pushed_is_accepted_with_platforms_none(
    registry: Callable[[dict[str, Any]], httpx.AsyncClient],
) -> None:
    client = registry(indexes("none"))
    body = sparse_index([("amd64", "linux"), ("arm64", "linux")])
    assert (await put_index(client, body)).status_code == 201
    pulled = await client.get("/v2/a/b/manifests/multi", headers={"Accept": OCI_INDEX})
    assert pulled.content == body


async def test_index_with_children_never_pushed_is_refused_with_platforms_all(
    registry: Callable[[dict[str, Any]], httpx.AsyncClient],
) -> None:
    response = await put_index(registry(indexes("all")), sparse_index([("amd64", "linux")]))
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"


async def test_platform_list_requires_only_the_listed_platforms_children(
    registry: Callable[[dict[str, Any]], httpx.AsyncClient],
) -> None:
    client = registry(indexes("list", platformlist=[{"architecture": "amd64", "os": "linux"}]))
    _, amd64 = await push_image(client, "a/b", None)
    pushed = json.loads(sparse_index([("arm64", "linux")]))
    pushed["manifests"].append(
        {
            "mediaType": OCI_MANIFEST,
            "digest": amd64,
            "size": len((await client.get(f"/v2/a/b/manifests/{amd64}")).content),
            "platform": {"architecture": "amd64", "os": "linux"},
        }
    )
    assert (await put_index(client, json.dumps(pushed).encode())).status_code == 201
    missing_amd64 = sparse_index([("amd64", "linux"), ("arm64", "linux")])
    response = await put_index(client, missing_amd64)
    assert response.status_code == 400
    assert response.json()["errors"][0]["detail"] == {"digest": digest_of(b"amd64/linux")}


def test_platform_list_without_platforms_is_a_configuration_error() -> None:
    from dockyard.config import ConfigError

    tree = {"version": 0.1, "storage": {"inmemory": {}}, **indexes("list")}
    with pytest.raises(ConfigError, match="platformlist: required when platforms is list"):
        from_dict(tree)


async def test_platforms_none_holds_on_the_filesystem_driver_too(tmp_path: Path) -> None:
    tree = {
        "version": 0.1,
        "storage": {"filesystem": {"rootdirectory": str(tmp_path)}},
        "http": {"secret": "s"},
        **indexes("none"),
    }
    transport = httpx.ASGITransport(app=build_app(from_dict(tree)))
    async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as client:
        response = await put_index(client, sparse_index([("amd64", "linux")]))
        assert response.status_code == 201, response.text
