"""The conformance suite's pull workflow (``01_pull_test.go``), behaviour by behaviour."""

from __future__ import annotations

import httpx
import pytest
from api_helpers import OCI_MANIFEST, digest_of, error_codes
from conformance_client import put_manifest, upload
from conformance_data import (
    CONFIG,
    DUMMY_DIGEST,
    INVALID_MANIFEST,
    LAYER,
    MANIFEST,
    MANIFEST_DIGEST,
    NAMESPACE,
    NONEXISTENT_MANIFEST,
    TAG,
)

CONFIG_DIGEST = digest_of(CONFIG)
ACCEPT = {"Accept": OCI_MANIFEST}
OCI_ERROR_CODES = {
    "BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "MANIFEST_UNVERIFIED",
    "NAME_INVALID", "NAME_UNKNOWN", "SIZE_INVALID", "TAG_INVALID", "UNAUTHORIZED", "DENIED",
    "UNSUPPORTED",
}  # fmt: skip


@pytest.fixture
async def populated(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The suite's pull setup: config blob, layer blob, manifest tagged ``tagtest0``."""
    for blob in (CONFIG, LAYER):
        assert (await upload(client, NAMESPACE, blob)).is_success
    assert (await put_manifest(client, NAMESPACE, TAG, MANIFEST)).is_success
    return client


async def test_setup_tag_is_listed(populated: httpx.AsyncClient) -> None:
    response = await populated.get(f"/v2/{NAMESPACE}/tags/list")
    assert response.json()["tags"][0] == TAG


async def test_head_nonexistent_blob_is_404(populated: httpx.AsyncClient) -> None:
    response = await populated.head(f"/v2/{NAMESPACE}/blobs/{DUMMY_DIGEST}")
    assert response.status_code == 404


async def test_head_existing_blob_is_200_with_its_digest(populated: httpx.AsyncClient) -> None:
    response = await populated.head(f"/v2/{NAMESPACE}/blobs/{CONFIG_DIGEST}")
    assert response.status_code == 200
    assert response.headers["docker-content-digest"] == CONFIG_DIGEST


async def test_get_nonexistent_blob_is_404(populated: httpx.AsyncClient) -> None:
    response = await populated.get(f"/v2/{NAMESPACE}/blobs/{DUMMY_DIGEST}")
    assert response.status_code == 404


async def test_get_existing_blob_is_200(populated: httpx.AsyncClient) -> None:
    response = await populated.get(f"/v2/{NAMESPACE}/blobs/{CONFIG_DIGEST}")
    assert response.status_code == 200
    assert response.content == CONFIG


async def test_head_nonexistent_manifest_is_404(populated: httpx.AsyncClient) -> None:
    response = await populated.head(f"/v2/{NAMESPACE}/manifests/{NONEXISTENT_MANIFEST}")
    assert response.status_code == 404


async def test_head_manifest_by_digest_is_200(populated: httpx.AsyncClient) -> None:
    response = await populated.head(f"/v2/{NAMESPACE}/manifests/{MANIFEST_DIGEST}", headers=ACCEPT)
    assert response.status_code == 200
    assert response.headers["docker-content-digest"] == MANIFEST_DIGEST


async def test_head_manifest_by_tag_is_200(populated: httpx.AsyncClient) -> None:
    response = await populated.head(f"/v2/{NAMESPACE}/manifests/{TAG}", headers=ACCEPT)
    assert response.status_code == 200
    assert response.headers["docker-content-digest"] == MANIFEST_DIGEST


async def test_get_nonexistent_manifest_is_404(populated: httpx.AsyncClient) -> None:
    response = await populated.get(f"/v2/{NAMESPACE}/manifests/{NONEXISTENT_MANIFEST}")
    assert response.status_code == 404


async def test_get_manifest_by_digest_is_200(populated: httpx.AsyncClient) -> None:
    response = await populated.get(f"/v2/{NAMESPACE}/manifests/{MANIFEST_DIGEST}", headers=ACCEPT)
    assert response.status_code == 200
    assert response.content == MANIFEST


async def test_get_manifest_by_tag_is_200(populated: httpx.AsyncClient) -> None:
    response = await populated.get(f"/v2/{NAMESPACE}/manifests/{TAG}", headers=ACCEPT)
    assert response.status_code == 200
    assert response.headers["docker-content-digest"] == MANIFEST_DIGEST


async def test_400_body_is_oci_conforming_json(populated: httpx.AsyncClient) -> None:
    response = await put_manifest(populated, NAMESPACE, "sha256:totallywrong", INVALID_MANIFEST)
    assert response.status_code == 400
    assert error_codes(response)[0] in OCI_ERROR_CODES


@pytest.mark.parametrize("path", [f"/manifests/{MANIFEST_DIGEST}", f"/blobs/{CONFIG_DIGEST}",
                                  f"/blobs/{digest_of(LAYER)}"])  # fmt: skip
async def test_teardown_deletes_succeed(populated: httpx.AsyncClient, path: str) -> None:
    response = await populated.delete(f"/v2/{NAMESPACE}{path}")
    assert response.status_code == 202
