"""The conformance suite's content discovery workflow (``03_discovery_test.go``)."""

from __future__ import annotations

import json

import httpx
import pytest
from api_helpers import EMPTY_JSON, OCI_INDEX, OCI_MANIFEST, digest_of
from conformance_client import put_manifest, upload
from conformance_data import (
    ANNOTATION,
    ARTIFACT_TYPE_A,
    ARTIFACT_TYPE_B,
    CONFIG,
    DUMMY_DIGEST,
    LAYER,
    NAMESPACE,
    REF_BLOB_A,
    REF_BLOB_B,
    TAG,
    go_manifest,
    referrer_with_artifact_type,
    referrer_with_config_type,
)

NUM_TAGS = 4
SUBJECT = go_manifest(CONFIG, (LAYER,), annotation=None) + b"\n"  # distinct from MANIFEST
MISSING_SUBJECT = go_manifest(CONFIG, (b"never pushed",))


def referrers() -> dict[str, bytes]:
    """The five referrers of SUBJECT and the one of MISSING_SUBJECT, by annotation."""
    a_config = referrer_with_config_type(SUBJECT, REF_BLOB_A, ARTIFACT_TYPE_A, "A config")
    a_layer = referrer_with_artifact_type(SUBJECT, REF_BLOB_A, ARTIFACT_TYPE_A, "A layer")
    subject = {"mediaType": OCI_MANIFEST, "size": len(SUBJECT), "digest": digest_of(SUBJECT)}
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "artifactType": "application/vnd.food.stand",
            "manifests": [
                {"mediaType": OCI_MANIFEST, "size": len(child), "digest": digest_of(child)}
                for child in (a_config, a_layer)
            ],
            "subject": subject,
            "annotations": {ANNOTATION: "test index"},
        },
        indent="\t",
    ).encode()
    return {
        "A config": a_config,
        "A layer": a_layer,
        "test index": index,
        "B config": referrer_with_config_type(SUBJECT, REF_BLOB_B, ARTIFACT_TYPE_B, "B config"),
        "B layer": referrer_with_artifact_type(SUBJECT, REF_BLOB_B, ARTIFACT_TYPE_B, "B layer"),
        "C layer": referrer_with_artifact_type(
            MISSING_SUBJECT, REF_BLOB_A, ARTIFACT_TYPE_B, "C layer"
        ),
    }


@pytest.fixture
async def discovered(client: httpx.AsyncClient) -> dict[str, bytes]:
    """The suite's discovery setup: tagged manifests, then referrers around a subject."""
    for blob in (CONFIG, LAYER, EMPTY_JSON, REF_BLOB_A):
        assert (await upload(client, NAMESPACE, blob)).status_code == 201
    base = go_manifest()
    for i in range(NUM_TAGS):
        assert (await put_manifest(client, NAMESPACE, f"test{i}", base)).status_code == 201
    refs = referrers()
    for note in ("A config", "A layer", "test index"):
        response = await put_manifest(
            client, NAMESPACE, digest_of(refs[note]), refs[note],
            OCI_INDEX if note == "test index" else OCI_MANIFEST,
        )  # fmt: skip
        assert response.status_code == 201, response.text
        assert response.headers["oci-subject"] == digest_of(SUBJECT)
    assert (await put_manifest(client, NAMESPACE, TAG, SUBJECT)).status_code == 201
    assert (await upload(client, NAMESPACE, REF_BLOB_B)).status_code == 201
    for note in ("B config", "B layer", "C layer"):
        response = await put_manifest(client, NAMESPACE, digest_of(refs[note]), refs[note])
        assert response.status_code == 201, response.text
    return refs


async def tag_list(client: httpx.AsyncClient, **params: str) -> list[str]:
    response = await client.get(f"/v2/{NAMESPACE}/tags/list", params=params)
    assert response.status_code == 200
    tags: list[str] = response.json()["tags"]
    return tags


async def test_list_tags_is_200(client: httpx.AsyncClient, discovered: dict[str, bytes]) -> None:
    assert await tag_list(client) == ["tagtest0", "test0", "test1", "test2", "test3"]


async def test_n_limits_the_number_of_tags(
    client: httpx.AsyncClient, discovered: dict[str, bytes]
) -> None:
    total = len(await tag_list(client))
    assert len(await tag_list(client, n=str(total // 2))) == total // 2


async def test_last_sets_where_tags_start(
    client: httpx.AsyncClient, discovered: dict[str, bytes]
) -> None:
    half = len(await tag_list(client)) // 2
    first = await tag_list(client, n=str(half))
    after = await tag_list(client, n=str(half), last=first[-1])
    assert len(after) <= half
    assert first[-1] not in after


async def test_referrers_of_a_nonexistent_blob_is_an_empty_index(
    client: httpx.AsyncClient, discovered: dict[str, bytes]
) -> None:
    response = await client.get(f"/v2/{NAMESPACE}/referrers/{DUMMY_DIGEST}")
    assert response.status_code == 200
    assert response.headers["content-type"] == OCI_INDEX
    assert response.json()["manifests"] == []


async def test_referrers_of_the_subject_lists_all_five(
    client: httpx.AsyncClient, discovered: dict[str, bytes]
) -> None:
    response = await client.get(f"/v2/{NAMESPACE}/referrers/{digest_of(SUBJECT)}")
    assert response.status_code == 200
    assert response.headers["content-type"] == OCI_INDEX
    manifests = response.json()["manifests"]
    assert len(manifests) == 5
    for entry in manifests:
        assert entry["annotations"] == {ANNOTATION: _note_of(discovered, entry["digest"])}


async def test_referrers_filtered_by_artifact_type(
    client: httpx.AsyncClient, discovered: dict[str, bytes]
) -> None:
    response = await client.get(
        f"/v2/{NAMESPACE}/referrers/{digest_of(SUBJECT)}",
        params={"artifactType": ARTIFACT_TYPE_A},
    )
    assert response.status_code == 200
    assert response.headers["oci-filters-applied"] == "artifactType"
    manifests = response.json()["manifests"]
    assert {_note_of(discovered, m["digest"]) for m in manifests} == {"A config", "A layer"}


async def test_referrers_of_a_missing_manifest_are_listed(
    client: httpx.AsyncClient, discovered: dict[str, bytes]
) -> None:
    response = await client.get(f"/v2/{NAMESPACE}/referrers/{digest_of(MISSING_SUBJECT)}")
    assert response.status_code == 200
    assert [m["digest"] for m in response.json()["manifests"]] == [digest_of(discovered["C layer"])]


def _note_of(refs: dict[str, bytes], digest: str) -> str:
    return next(note for note, body in refs.items() if digest_of(body) == digest)
