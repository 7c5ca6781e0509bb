"""``/v2/<name>/blobs/uploads/``: sessions, chunks, completion, cancel and mounts."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from api_helpers import DUMMY_DIGEST, SECRET, digest_of, error_codes, push_blob, relative

from dockyard.api.upload_state import UploadState, UploadStateCodec

NAME = "library/app"
DATA = b"0123456789" * 100


async def start(client: httpx.AsyncClient, name: str = NAME) -> httpx.Response:
    response = await client.post(f"/v2/{name}/blobs/uploads/")
    assert response.status_code == 202
    return response


def session_id(response: httpx.Response) -> str:
    return urlsplit(response.headers["location"]).path.rsplit("/", 1)[1]


async def patch(
    client: httpx.AsyncClient, location: str, data: bytes, start_at: int | None = None
) -> httpx.Response:
    headers = {"Content-Type": "application/octet-stream"}
    if start_at is not None:
        headers["Content-Range"] = f"{start_at}-{start_at + len(data) - 1}"
        headers["Content-Length"] = str(len(data))
    return await client.patch(relative(location), content=data, headers=headers)


# --- opening a session --------------------------------------------------------------------


async def test_post_opens_a_session(client: httpx.AsyncClient) -> None:
    response = await start(client)
    assert response.headers["location"].startswith(f"http://registry.test/v2/{NAME}/blobs/uploads/")
    assert response.headers["range"] == "0-0"
    assert response.headers["docker-upload-uuid"] == session_id(response)
    assert response.headers["content-length"] == "0"


async def test_post_location_carries_signed_state(client: httpx.AsyncClient) -> None:
    response = await start(client)
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert "_state" in query


async def test_post_advertises_chunk_min_length_when_configured(make_client: Any) -> None:
    http = make_client(chunk_min_length=5 * 1024 * 1024)
    response = await start(http)
    assert response.headers["oci-chunk-min-length"] == str(5 * 1024 * 1024)


async def test_post_does_not_advertise_chunk_min_length_by_default(
    client: httpx.AsyncClient,
) -> None:
    response = await start(client)
    assert "oci-chunk-min-length" not in response.headers


async def test_post_with_digest_uploads_monolithically(client: httpx.AsyncClient) -> None:
    digest = digest_of(DATA)
    response = await client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"digest": digest}, content=DATA
    )
    assert response.status_code == 201
    assert response.headers["location"] == f"http://registry.test/v2/{NAME}/blobs/{digest}"
    assert response.headers["docker-content-digest"] == digest
    assert (await client.get(f"/v2/{NAME}/blobs/{digest}")).content == DATA


async def test_monolithic_post_with_wrong_digest_is_digest_invalid(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"digest": DUMMY_DIGEST}, content=DATA
    )
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]


async def test_monolithic_post_with_malformed_digest_is_digest_invalid(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"digest": "sha256:zz"}, content=DATA
    )
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]


# --- chunks -------------------------------------------------------------------------------


async def test_streamed_patch_is_202_with_range(client: httpx.AsyncClient) -> None:
    session = await start(client)
    response = await patch(client, session.headers["location"], DATA)
    assert response.status_code == 202
    assert response.headers["range"] == f"0-{len(DATA) - 1}"
    assert response.headers["location"]


async def test_chunks_in_order_are_accepted(client: httpx.AsyncClient) -> None:
    session = await start(client)
    first = await patch(client, session.headers["location"], DATA[:300], 0)
    assert first.status_code == 202
    assert first.headers["range"] == "0-299"
    second = await patch(client, first.headers["location"], DATA[300:], 300)
    assert second.status_code == 202
    assert second.headers["range"] == f"0-{len(DATA) - 1}"


async def test_out_of_order_chunk_is_416_with_current_range(client: httpx.AsyncClient) -> None:
    session = await start(client)
    response = await patch(client, session.headers["location"], DATA[300:], 300)
    assert response.status_code == 416
    assert response.headers["range"] == "0-0"
    assert response.headers["location"]
    assert error_codes(response) == ["BLOB_UPLOAD_INVALID"]


async def test_retried_chunk_is_416_and_the_session_goes_on(client: httpx.AsyncClient) -> None:
    session = await start(client)
    first = await patch(client, session.headers["location"], DATA[:300], 0)
    retry = await patch(client, session.headers["location"], DATA[:300], 0)
    assert retry.status_code == 416
    assert retry.headers["range"] == "0-299"
    second = await patch(client, first.headers["location"], DATA[300:], 300)
    assert second.status_code == 202


async def test_malformed_content_range_is_416(client: httpx.AsyncClient) -> None:
    session = await start(client)
    response = await client.patch(
        relative(session.headers["location"]), content=DATA, headers={"Content-Range": "junk"}
    )
    assert response.status_code == 416
    assert response.headers["range"] == "0-0"
    assert error_codes(response) == ["RANGE_INVALID"]


async def test_content_range_disagreeing_with_content_length_is_416(
    client: httpx.AsyncClient,
) -> None:
    session = await start(client)
    response = await client.patch(
        relative(session.headers["location"]),
        content=DATA,
        headers={"Content-Range": "0-9"},
    )
    assert response.status_code == 416


async def test_status_of_a_session_is_204_with_range_and_location(
    client: httpx.AsyncClient,
) -> None:
    session = await start(client)
    await patch(client, session.headers["location"], DATA[:300], 0)
    response = await client.get(relative(session.headers["location"]))
    assert response.status_code == 204
    assert response.headers["range"] == "0-299"
    assert response.headers["location"]
    assert response.headers["docker-upload-uuid"] == session_id(session)


async def test_status_of_a_fresh_session_reports_0_0(client: httpx.AsyncClient) -> None:
    session = await start(client)
    response = await client.get(relative(session.headers["location"]))
    assert response.status_code == 204
    assert response.headers["range"] == "0-0"


# --- completing ---------------------------------------------------------------------------


async def test_put_with_the_whole_body_completes_the_upload(client: httpx.AsyncClient) -> None:
    session = await start(client)
    digest = digest_of(DATA)
    response = await client.put(relative(session.headers["location"], digest=digest), content=DATA)
    assert response.status_code == 201
    assert response.headers["location"] == f"http://registry.test/v2/{NAME}/blobs/{digest}"
    assert response.headers["docker-content-digest"] == digest


async def test_put_with_empty_body_completes_chunked_upload(client: httpx.AsyncClient) -> None:
    session = await start(client)
    chunk = await patch(client, session.headers["location"], DATA)
    digest = digest_of(DATA)
    response = await client.put(
        relative(chunk.headers["location"], digest=digest), headers={"Content-Length": "0"}
    )
    assert response.status_code == 201
    assert (await client.get(f"/v2/{NAME}/blobs/{digest}")).content == DATA


async def test_put_with_final_chunk_and_content_range(client: httpx.AsyncClient) -> None:
    session = await start(client)
    chunk = await patch(client, session.headers["location"], DATA[:500], 0)
    digest = digest_of(DATA)
    response = await client.put(
        relative(chunk.headers["location"], digest=digest),
        content=DATA[500:],
        headers={"Content-Range": f"500-{len(DATA) - 1}"},
    )
    assert response.status_code == 201
    assert (await client.get(f"/v2/{NAME}/blobs/{digest}")).content == DATA


async def test_put_with_misplaced_final_chunk_is_416(client: httpx.AsyncClient) -> None:
    session = await start(client)
    chunk = await patch(client, session.headers["location"], DATA[:500], 0)
    response = await client.put(
        relative(chunk.headers["location"], digest=digest_of(DATA)),
        content=DATA[600:],
        headers={"Content-Range": f"600-{len(DATA) - 1}"},
    )
    assert response.status_code == 416
    assert response.headers["range"] == "0-499"


async def test_put_without_digest_is_digest_invalid(client: httpx.AsyncClient) -> None:
    session = await start(client)
    response = await client.put(relative(session.headers["location"]), content=DATA)
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]


async def test_put_with_wrong_digest_is_digest_invalid(client: httpx.AsyncClient) -> None:
    session = await start(client)
    response = await client.put(
        relative(session.headers["location"], digest=DUMMY_DIGEST), content=DATA
    )
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]


async def test_completed_session_is_gone(client: httpx.AsyncClient) -> None:
    session = await start(client)
    await client.put(relative(session.headers["location"], digest=digest_of(DATA)), content=DATA)
    response = await client.get(relative(session.headers["location"]))
    assert response.status_code == 404
    assert error_codes(response) == ["BLOB_UPLOAD_UNKNOWN"]


# --- cancelling ---------------------------------------------------------------------------


async def test_delete_cancels_the_session(client: httpx.AsyncClient) -> None:
    session = await start(client)
    response = await client.delete(relative(session.headers["location"]))
    assert response.status_code == 204
    status = await client.get(relative(session.headers["location"]))
    assert status.status_code == 404
    assert error_codes(status) == ["BLOB_UPLOAD_UNKNOWN"]


async def test_delete_of_a_cancelled_session_is_404(client: httpx.AsyncClient) -> None:
    session = await start(client)
    await client.delete(relative(session.headers["location"]))
    response = await client.delete(relative(session.headers["location"]))
    assert response.status_code == 404


async def test_cancelling_works_when_deletes_are_disabled(make_client: Any) -> None:
    http = make_client(delete_enabled=False)
    session = await start(http)
    assert (await http.delete(relative(session.headers["location"]))).status_code == 204


# --- state --------------------------------------------------------------------------------


async def test_session_without_state_is_unknown(client: httpx.AsyncClient) -> None:
    session = await start(client)
    path = urlsplit(session.headers["location"]).path
    response = await client.get(path)
    assert response.status_code == 404
    assert error_codes(response) == ["BLOB_UPLOAD_UNKNOWN"]


async def test_forged_state_is_unknown(client: httpx.AsyncClient) -> None:
    session = await start(client)
    forged = UploadStateCodec(b"not-the-secret", timedelta(days=1)).encode(
        UploadState(NAME, session_id(session), 0, datetime.now(UTC))
    )
    path = urlsplit(session.headers["location"]).path
    response = await client.get(path, params={"_state": forged})
    assert response.status_code == 404
    assert error_codes(response) == ["BLOB_UPLOAD_UNKNOWN"]


async def test_garbage_state_is_unknown(client: httpx.AsyncClient) -> None:
    session = await start(client)
    path = urlsplit(session.headers["location"]).path
    garbage = base64.urlsafe_b64encode(b"x" * 40).decode()
    response = await client.patch(path, params={"_state": garbage}, content=b"abc")
    assert response.status_code == 404


async def test_expired_state_is_unknown(client: httpx.AsyncClient) -> None:
    session = await start(client)
    old = UploadStateCodec(SECRET, timedelta(days=7)).encode(
        UploadState(NAME, session_id(session), 0, datetime.now(UTC) - timedelta(days=8))
    )
    path = urlsplit(session.headers["location"]).path
    response = await client.get(path, params={"_state": old})
    assert response.status_code == 404


async def test_state_of_another_repository_is_unknown(client: httpx.AsyncClient) -> None:
    session = await start(client, "other/repo")
    query = urlsplit(session.headers["location"]).query
    response = await client.get(f"/v2/{NAME}/blobs/uploads/{session_id(session)}?{query}")
    assert response.status_code == 404


async def test_another_instance_with_the_same_secret_continues_the_session(
    client: httpx.AsyncClient, make_client: Any
) -> None:
    session = await start(client)
    other = make_client()
    response = await patch(other, session.headers["location"], DATA)
    assert response.status_code == 202


async def test_stale_location_reports_the_current_range(client: httpx.AsyncClient) -> None:
    session = await start(client)
    await patch(client, session.headers["location"], DATA[:300], 0)
    response = await client.get(relative(session.headers["location"]))
    assert response.status_code == 204
    assert response.headers["range"] == "0-299"


async def test_unknown_session_with_valid_looking_id_is_404(client: httpx.AsyncClient) -> None:
    token = UploadStateCodec(SECRET, timedelta(days=7)).encode(
        UploadState(NAME, "no-such-session", 0, datetime.now(UTC))
    )
    response = await client.get(
        f"/v2/{NAME}/blobs/uploads/no-such-session", params={"_state": token}
    )
    assert response.status_code == 404
    assert error_codes(response) == ["BLOB_UPLOAD_UNKNOWN"]


# --- cross-repository mounts --------------------------------------------------------------


async def test_mount_links_a_blob_from_another_repository(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, "source/repo", DATA)
    response = await client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"mount": digest, "from": "source/repo"}
    )
    assert response.status_code == 201
    assert response.headers["location"] == f"http://registry.test/v2/{NAME}/blobs/{digest}"
    assert response.headers["docker-content-digest"] == digest
    assert (await client.get(f"/v2/{NAME}/blobs/{digest}")).content == DATA


async def test_mount_of_unknown_blob_opens_a_session(client: httpx.AsyncClient) -> None:
    await push_blob(client, "source/repo", DATA)
    response = await client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"mount": DUMMY_DIGEST, "from": "source/repo"}
    )
    assert response.status_code == 202
    assert f"/v2/{NAME}/blobs/uploads/" in response.headers["location"]


async def test_mount_without_from_opens_a_session(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, "source/repo", DATA)
    response = await client.post(f"/v2/{NAME}/blobs/uploads/", params={"mount": digest})
    assert response.status_code == 202


async def test_mount_from_an_invalid_name_opens_a_session(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, "source/repo", DATA)
    response = await client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"mount": digest, "from": "../Bad"}
    )
    assert response.status_code == 202


async def test_mount_of_a_malformed_digest_is_digest_invalid(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"mount": "sha256:nope", "from": "source/repo"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "DIGEST_INVALID"


async def test_mount_from_an_unknown_repository_opens_a_session(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        f"/v2/{NAME}/blobs/uploads/", params={"mount": DUMMY_DIGEST, "from": "never/pushed"}
    )
    assert response.status_code == 202


async def test_streamed_chunk_longer_than_its_content_range_is_size_invalid(
    client: httpx.AsyncClient,
) -> None:
    session = await start(client)

    async def body() -> Any:
        yield DATA[:5]
        yield DATA[5:10]

    response = await client.patch(
        relative(session.headers["location"]), content=body(), headers={"Content-Range": "0-4"}
    )
    assert response.status_code == 400
    assert error_codes(response) == ["SIZE_INVALID"]


async def test_oversized_chunk_leaves_the_session_as_it_was(
    client: httpx.AsyncClient,
) -> None:
    session = await start(client)

    async def body() -> Any:
        yield DATA[:5]
        yield DATA[5:10]

    await client.patch(
        relative(session.headers["location"]), content=body(), headers={"Content-Range": "0-4"}
    )
    status = await client.get(relative(session.headers["location"]))
    assert status.status_code == 204
    assert status.headers["range"] == "0-0"
    retry = await patch(client, session.headers["location"], DATA[:5], 0)
    assert retry.status_code == 202
