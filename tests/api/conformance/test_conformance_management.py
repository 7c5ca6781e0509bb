"""The conformance suite's content management workflow (``04_management_test.go``)."""

from __future__ import annotations

import httpx
import pytest
from api_helpers import digest_of
from conformance_client import put_manifest, upload
from conformance_data import CONFIG, LAYER, NAMESPACE, go_manifest

TAG = "tagtest0"
MANIFEST = go_manifest(CONFIG, (LAYER,), annotation="management")
DIGEST = digest_of(MANIFEST)


@pytest.fixture
async def managed(client: httpx.AsyncClient) -> int:
    """Config, layer and a tagged manifest; returns how many tags exist."""
    for blob in (CONFIG, LAYER):
        assert (await upload(client, NAMESPACE, blob)).status_code == 201
    assert (await put_manifest(client, NAMESPACE, TAG, MANIFEST)).status_code == 201
    assert (await put_manifest(client, NAMESPACE, "keep", go_manifest())).status_code == 201
    return len((await client.get(f"/v2/{NAMESPACE}/tags/list")).json()["tags"])


async def test_delete_manifest_tag_is_202(client: httpx.AsyncClient, managed: int) -> None:
    response = await client.delete(f"/v2/{NAMESPACE}/manifests/{TAG}")
    assert response.status_code == 202


async def test_delete_manifest_by_digest_is_202(client: httpx.AsyncClient, managed: int) -> None:
    await client.delete(f"/v2/{NAMESPACE}/manifests/{TAG}")
    response = await client.delete(f"/v2/{NAMESPACE}/manifests/{DIGEST}")
    assert response.status_code == 202


async def test_deleted_manifest_is_404(client: httpx.AsyncClient, managed: int) -> None:
    await client.delete(f"/v2/{NAMESPACE}/manifests/{DIGEST}")
    response = await client.get(f"/v2/{NAMESPACE}/manifests/{DIGEST}")
    assert response.status_code == 404


async def test_tags_list_reflects_the_deletion(client: httpx.AsyncClient, managed: int) -> None:
    await client.delete(f"/v2/{NAMESPACE}/manifests/{TAG}")
    await client.delete(f"/v2/{NAMESPACE}/manifests/{DIGEST}")
    response = await client.get(f"/v2/{NAMESPACE}/tags/list")
    assert response.status_code == 200
    assert len(response.json()["tags"]) < managed


async def test_delete_blobs_is_202(client: httpx.AsyncClient, managed: int) -> None:
    for blob in (CONFIG, LAYER):
        response = await client.delete(f"/v2/{NAMESPACE}/blobs/{digest_of(blob)}")
        assert response.status_code == 202


async def test_deleted_blob_is_404(client: httpx.AsyncClient, managed: int) -> None:
    await client.delete(f"/v2/{NAMESPACE}/blobs/{digest_of(CONFIG)}")
    response = await client.get(f"/v2/{NAMESPACE}/blobs/{digest_of(CONFIG)}")
    assert response.status_code == 404
