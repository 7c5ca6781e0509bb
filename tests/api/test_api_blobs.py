"""``/v2/<name>/blobs/<digest>``: existence checks, downloads, ranges and deletes."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from api_helpers import DUMMY_DIGEST, digest_of, error_codes, push_blob, relative

from dockyard.digest import Digest
from dockyard.storage.protocols import BlobContent
from dockyard.storage.registry import StorageRegistry

NAME = "library/app"
DATA = bytes(range(256)) * 4


async def test_head_existing_blob_reports_length_and_digest(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, NAME, DATA)
    response = await client.head(f"/v2/{NAME}/blobs/{digest}")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["docker-content-digest"] == digest
    assert response.content == b""


async def test_head_unknown_blob_is_404(client: httpx.AsyncClient) -> None:
    await push_blob(client, NAME, DATA)
    response = await client.head(f"/v2/{NAME}/blobs/{DUMMY_DIGEST}")
    assert response.status_code == 404


async def test_get_blob_returns_its_bytes_and_headers(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, NAME, DATA)
    response = await client.get(f"/v2/{NAME}/blobs/{digest}")
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"] == f'"{digest}"'
    assert response.headers["docker-content-digest"] == digest


async def test_get_unknown_blob_is_blob_unknown(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v2/{NAME}/blobs/{DUMMY_DIGEST}")
    assert response.status_code == 404
    assert error_codes(response) == ["BLOB_UNKNOWN"]


async def test_blob_of_another_repository_is_unknown_here(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, "other/repo", DATA)
    response = await client.get(f"/v2/{NAME}/blobs/{digest}")
    assert response.status_code == 404


async def test_malformed_digest_is_digest_invalid(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v2/{NAME}/blobs/sha256:nothex")
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]


async def test_unsupported_algorithm_is_digest_invalid(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v2/{NAME}/blobs/md5:{'a' * 32}")
    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]


async def test_sha512_blob_round_trips(client: httpx.AsyncClient) -> None:
    digest = digest_of(DATA, "sha512")
    started = await client.post(f"/v2/{NAME}/blobs/uploads/")
    done = await client.put(relative(started.headers["location"], digest=digest), content=DATA)
    assert done.status_code == 201
    assert done.headers["docker-content-digest"] == digest
    response = await client.get(f"/v2/{NAME}/blobs/{digest}")
    assert response.content == DATA


async def test_range_request_returns_206_with_content_range(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, NAME, DATA)
    response = await client.get(f"/v2/{NAME}/blobs/{digest}", headers={"Range": "bytes=10-19"})
    assert response.status_code == 206
    assert response.content == DATA[10:20]
    assert response.headers["content-range"] == f"bytes 10-19/{len(DATA)}"
    assert response.headers["content-length"] == "10"


async def test_open_ended_range_runs_to_the_end(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, NAME, DATA)
    response = await client.get(f"/v2/{NAME}/blobs/{digest}", headers={"Range": "bytes=1000-"})
    assert response.status_code == 206
    assert response.content == DATA[1000:]


async def test_suffix_range_returns_the_last_bytes(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, NAME, DATA)
    response = await client.get(f"/v2/{NAME}/blobs/{digest}", headers={"Range": "bytes=-5"})
    assert response.status_code == 206
    assert response.content == DATA[-5:]


async def test_unsatisfiable_range_is_416_with_size(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, NAME, DATA)
    response = await client.get(
        f"/v2/{NAME}/blobs/{digest}", headers={"Range": f"bytes={len(DATA)}-"}
    )
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(DATA)}"
    assert error_codes(response) == ["RANGE_INVALID"]


async def test_malformed_range_is_ignored(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, NAME, DATA)
    response = await client.get(f"/v2/{NAME}/blobs/{digest}", headers={"Range": "bytes=zz"})
    assert response.status_code == 200
    assert response.content == DATA


async def test_multiple_ranges_are_answered_whole(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, NAME, DATA)
    response = await client.get(f"/v2/{NAME}/blobs/{digest}", headers={"Range": "bytes=0-1,5-6"})
    assert response.status_code == 200
    assert response.content == DATA


async def test_if_none_match_with_the_digest_is_304(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, NAME, DATA)
    response = await client.get(
        f"/v2/{NAME}/blobs/{digest}", headers={"If-None-Match": f'"{digest}"'}
    )
    assert response.status_code == 304
    assert response.content == b""


async def test_delete_blob_is_202_and_unlinks_it(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, NAME, DATA)
    response = await client.delete(f"/v2/{NAME}/blobs/{digest}")
    assert response.status_code == 202
    assert (await client.get(f"/v2/{NAME}/blobs/{digest}")).status_code == 404


async def test_delete_unknown_blob_is_404(client: httpx.AsyncClient) -> None:
    response = await client.delete(f"/v2/{NAME}/blobs/{DUMMY_DIGEST}")
    assert response.status_code == 404
    assert error_codes(response) == ["BLOB_UNKNOWN"]


async def test_delete_blob_when_deletes_are_disabled_is_405(make_client: Any) -> None:
    http = make_client(delete_enabled=False)
    digest = await push_blob(http, NAME, DATA)
    response = await http.delete(f"/v2/{NAME}/blobs/{digest}")
    assert response.status_code == 405
    assert error_codes(response) == ["UNSUPPORTED"]
    assert (await http.get(f"/v2/{NAME}/blobs/{digest}")).status_code == 200


async def test_blob_from_a_file_is_served_whole(
    make_client: Any, fs_registry: StorageRegistry
) -> None:
    http = make_client(registry_=fs_registry)
    digest = await push_blob(http, NAME, DATA)
    response = await http.get(f"/v2/{NAME}/blobs/{digest}")
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["etag"] == f'"{digest}"'


async def test_blob_from_a_file_serves_a_range(
    make_client: Any, fs_registry: StorageRegistry
) -> None:
    http = make_client(registry_=fs_registry)
    digest = await push_blob(http, NAME, DATA)
    response = await http.get(f"/v2/{NAME}/blobs/{digest}", headers={"Range": "bytes=100-299"})
    assert response.status_code == 206
    assert response.content == DATA[100:300]


async def test_blob_from_a_file_ignores_a_malformed_range(
    make_client: Any, fs_registry: StorageRegistry
) -> None:
    http = make_client(registry_=fs_registry)
    digest = await push_blob(http, NAME, DATA)
    response = await http.get(f"/v2/{NAME}/blobs/{digest}", headers={"Range": "lines=1-2"})
    assert response.status_code == 200
    assert response.content == DATA


# --- redirects to a storage backend -------------------------------------------------------


class _RedirectingBlobs:
    """Blobs whose backend offers a URL, as an object store's driver does."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def open(
        self, digest: Digest, *args: Any, allow_redirect: bool = False, method: str = "GET"
    ) -> BlobContent:
        content: BlobContent = await self.inner.open(
            digest, *args, allow_redirect=allow_redirect, method=method
        )
        if allow_redirect:
            return BlobContent(content.descriptor, redirect_url=f"https://cdn.example/{digest.hex}")
        return content


class _RedirectingRepository:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.blobs = _RedirectingBlobs(inner.blobs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _RedirectingRegistry:
    def __init__(self, inner: StorageRegistry) -> None:
        self.inner = inner

    def repository(self, name: str) -> Any:
        return _RedirectingRepository(self.inner.repository(name))

    async def catalog(self, last: str | None = None, n: int | None = None) -> Any:
        return await self.inner.catalog(last, n)


async def test_get_redirects_to_the_backend_url(
    make_client: Any, registry: StorageRegistry
) -> None:
    http = make_client(registry_=_RedirectingRegistry(registry))
    digest = await push_blob(http, NAME, DATA)
    response = await http.get(f"/v2/{NAME}/blobs/{digest}")
    assert response.status_code == 307
    assert response.headers["location"] == f"https://cdn.example/{hashlib.sha256(DATA).hexdigest()}"


async def test_head_is_answered_by_the_registry_not_redirected(
    make_client: Any, registry: StorageRegistry
) -> None:
    http = make_client(registry_=_RedirectingRegistry(registry))
    digest = await push_blob(http, NAME, DATA)
    response = await http.head(f"/v2/{NAME}/blobs/{digest}")
    assert response.status_code == 200


async def test_redirects_can_be_disabled(make_client: Any, registry: StorageRegistry) -> None:
    http = make_client(registry_=_RedirectingRegistry(registry), redirect_enabled=False)
    digest = await push_blob(http, NAME, DATA)
    response = await http.get(f"/v2/{NAME}/blobs/{digest}")
    assert response.status_code == 200
    assert response.content == DATA
