"""``GET /v2/<name>/referrers/<digest>``: the referrers index, filtered and paged."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from api_helpers import (
    DUMMY_DIGEST,
    EMPTY_JSON,
    EMPTY_JSON_TYPE,
    OCI_INDEX,
    OCI_MANIFEST,
    digest_of,
    error_codes,
    image_manifest,
    push_blob,
    push_image,
)

from dockyard.api import referrers

NAME = "library/app"
SIG = "application/vnd.example.signature"
SBOM = "application/vnd.example.sbom"


async def push_referrer(
    client: httpx.AsyncClient, subject: str, artifact_type: str, note: str
) -> str:
    await push_blob(client, NAME, EMPTY_JSON)
    await push_blob(client, NAME, note.encode())
    body = image_manifest(
        EMPTY_JSON,
        [note.encode()],
        config_type=EMPTY_JSON_TYPE,
        subject={"mediaType": OCI_MANIFEST, "digest": subject, "size": 1},
        artifact_type=artifact_type,
        annotations={"note": note},
    )
    digest = digest_of(body)
    response = await client.put(
        f"/v2/{NAME}/manifests/{digest}", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert response.status_code == 201
    return digest


@pytest.fixture
async def subject(client: httpx.AsyncClient) -> str:
    _, digest = await push_image(client, NAME, "v1")
    return digest


async def test_unknown_digest_answers_an_empty_index(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v2/{NAME}/referrers/{DUMMY_DIGEST}")
    assert response.status_code == 200
    assert response.headers["content-type"] == OCI_INDEX
    assert response.json() == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}


async def test_referrers_are_listed_with_type_and_annotations(
    client: httpx.AsyncClient, subject: str
) -> None:
    sig = await push_referrer(client, subject, SIG, "signed")
    sbom = await push_referrer(client, subject, SBOM, "sbom")
    response = await client.get(f"/v2/{NAME}/referrers/{subject}")
    manifests = response.json()["manifests"]
    assert {m["digest"] for m in manifests} == {sig, sbom}
    by_digest = {m["digest"]: m for m in manifests}
    assert by_digest[sig]["artifactType"] == SIG
    assert by_digest[sig]["annotations"] == {"note": "signed"}
    assert by_digest[sig]["mediaType"] == OCI_MANIFEST
    assert "oci-filters-applied" not in response.headers


async def test_artifact_type_filter_is_applied_and_announced(
    client: httpx.AsyncClient, subject: str
) -> None:
    sig = await push_referrer(client, subject, SIG, "signed")
    await push_referrer(client, subject, SBOM, "sbom")
    response = await client.get(f"/v2/{NAME}/referrers/{subject}", params={"artifactType": SIG})
    assert [m["digest"] for m in response.json()["manifests"]] == [sig]
    assert response.headers["oci-filters-applied"] == "artifactType"


async def test_referrers_of_a_missing_subject_are_listed(client: httpx.AsyncClient) -> None:
    referrer = await push_referrer(client, DUMMY_DIGEST, SIG, "dangling")
    response = await client.get(f"/v2/{NAME}/referrers/{DUMMY_DIGEST}")
    assert [m["digest"] for m in response.json()["manifests"]] == [referrer]


async def test_deleted_referrer_disappears(client: httpx.AsyncClient, subject: str) -> None:
    sig = await push_referrer(client, subject, SIG, "signed")
    await client.delete(f"/v2/{NAME}/manifests/{sig}")
    response = await client.get(f"/v2/{NAME}/referrers/{subject}")
    assert response.json()["manifests"] == []


async def test_large_answers_are_paged_with_link(
    client: httpx.AsyncClient, subject: str, monkeypatch: Any
) -> None:
    monkeypatch.setattr(referrers, "PAGE_SIZE", 2)
    pushed = {await push_referrer(client, subject, SIG, f"n{i}") for i in range(5)}
    seen: list[str] = []
    url = f"/v2/{NAME}/referrers/{subject}?artifactType={SIG}"
    pages = 0
    while url:
        response = await client.get(url)
        assert response.status_code == 200
        seen += [m["digest"] for m in response.json()["manifests"]]
        link = response.headers.get("link")
        url = link[1 : link.index(">")] if link else ""
        pages += 1
    assert pages == 3
    assert sorted(seen) == sorted(pushed)


async def test_malformed_subject_digest_is_digest_invalid(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v2/{NAME}/referrers/sha256:bad")
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]
