"""``/v2/<name>/manifests/<reference>``: push, pull, check and delete manifests."""

from __future__ import annotations

import json
from typing import Any

import httpx
from api_helpers import (
    DUMMY_DIGEST,
    EMPTY_JSON,
    EMPTY_JSON_TYPE,
    OCI_INDEX,
    OCI_MANIFEST,
    descriptor,
    digest_of,
    error_codes,
    image_manifest,
    push_blob,
    push_image,
)

NAME = "library/app"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


async def put_manifest(
    client: httpx.AsyncClient,
    reference: str,
    body: bytes,
    media_type: str = OCI_MANIFEST,
    **kw: Any,
) -> httpx.Response:
    return await client.put(
        f"/v2/{NAME}/manifests/{reference}",
        content=body,
        headers={"Content-Type": media_type},
        **kw,
    )


# --- push ---------------------------------------------------------------------------------


async def test_put_by_tag_is_201_with_location_and_digest(client: httpx.AsyncClient) -> None:
    config, layer = b'{"a":1}', b"layer"
    await push_blob(client, NAME, config)
    await push_blob(client, NAME, layer)
    body = image_manifest(config, [layer])
    response = await put_manifest(client, "v1", body)
    assert response.status_code == 201
    digest = digest_of(body)
    assert response.headers["docker-content-digest"] == digest
    assert response.headers["location"] == f"http://registry.test/v2/{NAME}/manifests/{digest}"


async def test_put_by_digest_is_201(client: httpx.AsyncClient) -> None:
    body, digest = await push_image(client, NAME, None)
    response = await client.get(f"/v2/{NAME}/manifests/{digest}")
    assert response.status_code == 200
    assert response.content == body


async def test_put_by_digest_that_does_not_match_is_digest_invalid(
    client: httpx.AsyncClient,
) -> None:
    body, _ = await push_image(client, NAME, "v1")
    response = await put_manifest(client, DUMMY_DIGEST, body)
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]


async def test_put_by_malformed_digest_is_400_with_oci_json(client: httpx.AsyncClient) -> None:
    response = await put_manifest(client, "sha256:totallywrong", b"{}")
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]


async def test_put_with_invalid_tag_is_tag_invalid(client: httpx.AsyncClient) -> None:
    response = await put_manifest(client, "-bad", b"{}")
    assert response.status_code == 400
    assert error_codes(response) == ["TAG_INVALID"]


async def test_put_of_invalid_json_is_manifest_invalid(client: httpx.AsyncClient) -> None:
    response = await put_manifest(client, "v1", b"{not json")
    assert response.status_code == 400
    assert error_codes(response) == ["MANIFEST_INVALID"]


async def test_put_referencing_missing_blobs_lists_every_digest(
    client: httpx.AsyncClient,
) -> None:
    config, layer_a, layer_b = b'{"c":1}', b"layer-a", b"layer-b"
    body = image_manifest(config, [layer_a, layer_b])
    response = await put_manifest(client, "v1", body)
    assert response.status_code == 400
    assert set(error_codes(response)) == {"MANIFEST_BLOB_UNKNOWN"}
    missing = {e["detail"]["digest"] for e in response.json()["errors"]}
    assert missing == {digest_of(config), digest_of(layer_a), digest_of(layer_b)}


async def test_put_larger_than_the_limit_is_413(make_client: Any) -> None:
    http = make_client(max_manifest_size=100)
    response = await http.put(
        f"/v2/{NAME}/manifests/v1", content=b" " * 101, headers={"Content-Type": OCI_MANIFEST}
    )
    assert response.status_code == 413
    assert error_codes(response) == ["MANIFEST_INVALID"]


async def test_put_streamed_past_the_limit_is_413(make_client: Any) -> None:
    http = make_client(max_manifest_size=100)

    async def chunks() -> Any:
        for _ in range(5):
            yield b" " * 50

    response = await http.put(
        f"/v2/{NAME}/manifests/v1", content=chunks(), headers={"Content-Type": OCI_MANIFEST}
    )
    assert response.status_code == 413


async def test_put_of_manifest_with_subject_answers_oci_subject(
    client: httpx.AsyncClient,
) -> None:
    _, subject_digest = await push_image(client, NAME, "v1")
    subject = {"mediaType": OCI_MANIFEST, "digest": subject_digest, "size": 100}
    await push_blob(client, NAME, EMPTY_JSON)
    await push_blob(client, NAME, b"signature")
    body = image_manifest(
        EMPTY_JSON,
        [b"signature"],
        config_type=EMPTY_JSON_TYPE,
        subject=subject,
        artifact_type="application/vnd.example.sig",
    )
    response = await put_manifest(client, digest_of(body), body)
    assert response.status_code == 201
    assert response.headers["oci-subject"] == subject_digest


async def test_put_of_manifest_with_dangling_subject_is_accepted(
    client: httpx.AsyncClient,
) -> None:
    await push_blob(client, NAME, EMPTY_JSON)
    subject = {"mediaType": OCI_MANIFEST, "digest": DUMMY_DIGEST, "size": 10}
    body = image_manifest(EMPTY_JSON, [], config_type=EMPTY_JSON_TYPE, subject=subject)
    response = await put_manifest(client, digest_of(body), body)
    assert response.status_code == 201
    assert response.headers["oci-subject"] == DUMMY_DIGEST


async def test_put_without_subject_has_no_oci_subject(client: httpx.AsyncClient) -> None:
    body, _ = await push_image(client, NAME, "v1")
    response = await put_manifest(client, "v2", body)
    assert "oci-subject" not in response.headers


async def test_put_with_tag_parameters_tags_every_one(client: httpx.AsyncClient) -> None:
    body, digest = await push_image(client, NAME, None)
    response = await put_manifest(client, digest, body, params=[("tag", "a"), ("tag", "b")])
    assert response.status_code == 201
    assert response.headers.get_list("oci-tag") == ["a", "b"]
    tags = (await client.get(f"/v2/{NAME}/tags/list")).json()["tags"]
    assert tags == ["a", "b"]


async def test_put_with_invalid_tag_parameter_stores_nothing(client: httpx.AsyncClient) -> None:
    body, digest = await push_image(client, NAME, "v1")
    response = await put_manifest(client, digest, body, params={"tag": "-bad"})
    assert response.status_code == 400
    assert error_codes(response) == ["TAG_INVALID"]
    assert (await client.get(f"/v2/{NAME}/tags/list")).json()["tags"] == ["v1"]


async def test_put_of_an_image_index(client: httpx.AsyncClient) -> None:
    child, child_digest = await push_image(client, NAME, None)
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": child_digest, "size": len(child)}],
        }
    ).encode()
    response = await put_manifest(client, "multi", index, OCI_INDEX)
    assert response.status_code == 201
    got = await client.get(f"/v2/{NAME}/manifests/multi")
    assert got.headers["content-type"] == OCI_INDEX
    assert got.content == index


async def test_put_of_an_index_with_unknown_children_is_manifest_blob_unknown(
    client: httpx.AsyncClient,
) -> None:
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": DUMMY_DIGEST, "size": 10}],
        }
    ).encode()
    response = await put_manifest(client, "multi", index, OCI_INDEX)
    assert response.status_code == 400
    assert error_codes(response) == ["MANIFEST_BLOB_UNKNOWN"]


async def test_put_of_a_docker_schema2_manifest(client: httpx.AsyncClient) -> None:
    config, layer = b'{"docker":true}', b"docker-layer"
    await push_blob(client, NAME, config)
    await push_blob(client, NAME, layer)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": descriptor("application/vnd.docker.container.image.v1+json", config),
            "layers": [descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", layer)],
        }
    ).encode()
    response = await put_manifest(client, "docker", body, DOCKER_MANIFEST)
    assert response.status_code == 201
    got = await client.get(f"/v2/{NAME}/manifests/docker")
    assert got.headers["content-type"] == DOCKER_MANIFEST


async def test_put_when_repushed_keeps_bytes_exact(client: httpx.AsyncClient) -> None:
    body, digest = await push_image(client, NAME, "v1")
    again = await put_manifest(client, "v1", body)
    assert again.status_code == 201
    assert (await client.get(f"/v2/{NAME}/manifests/{digest}")).content == body


# --- pull ---------------------------------------------------------------------------------


async def test_get_by_tag_returns_stored_bytes_and_type(client: httpx.AsyncClient) -> None:
    body, digest = await push_image(client, NAME, "v1")
    response = await client.get(f"/v2/{NAME}/manifests/v1")
    assert response.status_code == 200
    assert response.content == body
    assert response.headers["content-type"] == OCI_MANIFEST
    assert response.headers["docker-content-digest"] == digest
    assert response.headers["content-length"] == str(len(body))
    assert response.headers["etag"] == f'"{digest}"'


async def test_get_by_digest(client: httpx.AsyncClient) -> None:
    body, digest = await push_image(client, NAME, "v1")
    response = await client.get(f"/v2/{NAME}/manifests/{digest}")
    assert response.status_code == 200
    assert response.content == body


async def test_head_reports_type_length_and_digest_without_body(
    client: httpx.AsyncClient,
) -> None:
    body, digest = await push_image(client, NAME, "v1")
    response = await client.head(f"/v2/{NAME}/manifests/v1")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(body))
    assert response.headers["content-type"] == OCI_MANIFEST
    assert response.headers["docker-content-digest"] == digest


async def test_get_unknown_tag_is_manifest_unknown(client: httpx.AsyncClient) -> None:
    await push_image(client, NAME, "v1")
    response = await client.get(f"/v2/{NAME}/manifests/nope")
    assert response.status_code == 404
    assert error_codes(response) == ["MANIFEST_UNKNOWN"]


async def test_get_unknown_digest_is_manifest_unknown(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v2/{NAME}/manifests/{DUMMY_DIGEST}")
    assert response.status_code == 404
    assert error_codes(response) == ["MANIFEST_UNKNOWN"]


async def test_head_unknown_manifest_is_404(client: httpx.AsyncClient) -> None:
    response = await client.head(f"/v2/{NAME}/manifests/nope")
    assert response.status_code == 404


async def test_get_with_malformed_reference_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v2/{NAME}/manifests/sha256:short")
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]


async def test_get_with_if_none_match_is_304(client: httpx.AsyncClient) -> None:
    _, digest = await push_image(client, NAME, "v1")
    response = await client.get(
        f"/v2/{NAME}/manifests/v1", headers={"If-None-Match": f'"{digest}"'}
    )
    assert response.status_code == 304


async def test_manifest_pushed_as_blob_is_not_a_manifest(client: httpx.AsyncClient) -> None:
    body, _ = await push_image(client, NAME, "v1")
    other = body + b"\n"
    digest = await push_blob(client, NAME, other)
    response = await client.get(f"/v2/{NAME}/manifests/{digest}")
    assert response.status_code == 404


# --- delete -------------------------------------------------------------------------------


async def test_delete_by_digest_removes_the_manifest_and_its_tags(
    client: httpx.AsyncClient,
) -> None:
    body, digest = await push_image(client, NAME, "v1")
    await put_manifest(client, "v2", body)
    await push_image(client, NAME, "other", seed=b"x")
    response = await client.delete(f"/v2/{NAME}/manifests/{digest}")
    assert response.status_code == 202
    assert (await client.get(f"/v2/{NAME}/manifests/{digest}")).status_code == 404
    assert (await client.get(f"/v2/{NAME}/tags/list")).json()["tags"] == ["other"]


async def test_delete_by_tag_removes_only_the_tag(client: httpx.AsyncClient) -> None:
    body, digest = await push_image(client, NAME, "v1")
    await put_manifest(client, "v2", body)
    response = await client.delete(f"/v2/{NAME}/manifests/v1")
    assert response.status_code == 202
    assert (await client.get(f"/v2/{NAME}/manifests/v1")).status_code == 404
    assert (await client.get(f"/v2/{NAME}/manifests/{digest}")).status_code == 200
    assert (await client.get(f"/v2/{NAME}/manifests/v2")).status_code == 200


async def test_delete_of_unknown_manifest_is_404(client: httpx.AsyncClient) -> None:
    await push_image(client, NAME, "v1")
    response = await client.delete(f"/v2/{NAME}/manifests/{DUMMY_DIGEST}")
    assert response.status_code == 404
    assert error_codes(response) == ["MANIFEST_UNKNOWN"]


async def test_delete_of_unknown_tag_is_404(client: httpx.AsyncClient) -> None:
    await push_image(client, NAME, "v1")
    response = await client.delete(f"/v2/{NAME}/manifests/nope")
    assert response.status_code == 404


async def test_delete_when_deletes_are_disabled_is_405(make_client: Any) -> None:
    http = make_client(delete_enabled=False)
    _, digest = await push_image(http, NAME, "v1")
    for reference in (digest, "v1"):
        response = await http.delete(f"/v2/{NAME}/manifests/{reference}")
        assert response.status_code == 405
        assert error_codes(response) == ["UNSUPPORTED"]
    assert (await http.get(f"/v2/{NAME}/manifests/v1")).status_code == 200
