"""The small requests of a pull (manifest GET/HEAD, blob HEAD) answer with exactly the
headers clients rely on, however the dispatcher builds and sends them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import DUMMY_DIGEST, OCI_MANIFEST, SECRET, error_codes, push_blob, push_image
from starlette.types import Receive, Scope, Send

from dockyard.api import routes
from dockyard.api.app import RegistryApp
from dockyard.api.context import RequestContext, Services
from dockyard.api.settings import ApiSettings
from dockyard.api.upload_state import UploadStateCodec
from dockyard.digest import Digest
from dockyard.errors import NameInvalid
from dockyard.storage.driver.base import OpenFile
from dockyard.storage.protocols import BlobContent
from dockyard.storage.registry import StorageRegistry

NAME = "library/app"
DATA = bytes(range(256)) * 4
API_VERSION = "registry/2.0"


# --- manifests ------------------------------------------------------------------------------


async def test_manifest_get_sends_the_api_version_header(client: httpx.AsyncClient) -> None:
    await push_image(client, NAME, "v1")
    response = await client.get(f"/v2/{NAME}/manifests/v1")
    assert response.headers["docker-distribution-api-version"] == API_VERSION


async def test_manifest_head_sends_the_headers_of_the_get(client: httpx.AsyncClient) -> None:
    await push_image(client, NAME, "v1")
    got = await client.get(f"/v2/{NAME}/manifests/v1")
    head = await client.head(f"/v2/{NAME}/manifests/v1")
    for header in ("docker-content-digest", "etag", "content-length", "content-type"):
        assert head.headers[header] == got.headers[header]
    assert head.headers["docker-distribution-api-version"] == API_VERSION


async def test_manifest_get_not_modified_is_304_with_etag_and_no_body(
    client: httpx.AsyncClient,
) -> None:
    _, digest = await push_image(client, NAME, "v1")
    response = await client.get(
        f"/v2/{NAME}/manifests/v1", headers={"If-None-Match": f'"{digest}"'}
    )
    assert response.status_code == 304
    assert response.headers["etag"] == f'"{digest}"'
    assert "content-length" not in response.headers
    assert response.content == b""
    assert response.headers["docker-distribution-api-version"] == API_VERSION


async def test_manifest_get_with_another_etag_is_200(client: httpx.AsyncClient) -> None:
    body, _ = await push_image(client, NAME, "v1")
    response = await client.get(
        f"/v2/{NAME}/manifests/v1", headers={"If-None-Match": f'"{DUMMY_DIGEST}"'}
    )
    assert response.status_code == 200
    assert response.content == body


async def test_manifest_get_by_digest_sends_type_length_and_digest(
    client: httpx.AsyncClient,
) -> None:
    body, digest = await push_image(client, NAME, "v1")
    response = await client.get(f"/v2/{NAME}/manifests/{digest}")
    assert response.headers["content-type"] == OCI_MANIFEST
    assert response.headers["content-length"] == str(len(body))
    assert response.headers["docker-content-digest"] == digest


async def test_manifest_head_by_digest_has_no_body(client: httpx.AsyncClient) -> None:
    body, digest = await push_image(client, NAME, "v1")
    response = await client.head(f"/v2/{NAME}/manifests/{digest}")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(body))


async def test_manifest_of_an_invalid_tag_is_manifest_unknown(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v2/{NAME}/manifests/.INVALID_MANIFEST_NAME")
    assert response.status_code == 404
    assert error_codes(response) == ["MANIFEST_UNKNOWN"]


async def test_delete_of_a_tag_leaves_the_manifest_by_digest(client: httpx.AsyncClient) -> None:
    _, digest = await push_image(client, NAME, "v1")
    assert (await client.delete(f"/v2/{NAME}/manifests/v1")).status_code == 202
    assert (await client.get(f"/v2/{NAME}/manifests/v1")).status_code == 404
    assert (await client.get(f"/v2/{NAME}/manifests/{digest}")).status_code == 200


# --- blobs ----------------------------------------------------------------------------------


async def test_blob_head_sends_the_headers_of_the_get(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, NAME, DATA)
    got = await client.get(f"/v2/{NAME}/blobs/{digest}")
    head = await client.head(f"/v2/{NAME}/blobs/{digest}")
    for header in (
        "docker-content-digest",
        "content-length",
        "content-type",
        "accept-ranges",
        "etag",
        "cache-control",
    ):
        assert head.headers[header] == got.headers[header]
    assert head.headers["docker-distribution-api-version"] == API_VERSION


async def test_blob_head_not_modified_is_304_with_etag(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, NAME, DATA)
    response = await client.head(
        f"/v2/{NAME}/blobs/{digest}", headers={"If-None-Match": f'W/"x", "{digest}"'}
    )
    assert response.status_code == 304
    assert response.headers["etag"] == f'"{digest}"'
    assert "content-length" not in response.headers


# --- errors and empty responses -------------------------------------------------------------


async def test_error_is_json_with_its_length(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v2/{NAME}/manifests/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(response.content))
    assert response.headers["docker-distribution-api-version"] == API_VERSION


async def test_head_error_states_the_length_of_the_json_it_omits(
    client: httpx.AsyncClient,
) -> None:
    got = await client.get(f"/v2/{NAME}/blobs/{DUMMY_DIGEST}")
    head = await client.head(f"/v2/{NAME}/blobs/{DUMMY_DIGEST}")
    assert head.status_code == 404
    assert head.content == b""
    assert head.headers["content-length"] == got.headers["content-length"]


async def test_no_content_reply_has_no_content_length(client: httpx.AsyncClient) -> None:
    started = await client.post(f"/v2/{NAME}/blobs/uploads/")
    response = await client.get(started.headers["location"])
    assert response.status_code == 204
    assert "content-length" not in response.headers


async def test_accepted_reply_has_zero_content_length(client: httpx.AsyncClient) -> None:
    digest = await push_blob(client, NAME, DATA)
    response = await client.delete(f"/v2/{NAME}/blobs/{digest}")
    assert response.status_code == 202
    assert response.headers["content-length"] == "0"


class _VanishingFileBlobs:
    """Blobs whose file turns out shorter than its descriptor when it is sent (damaged
    storage, or a file replaced by hand under a running registry)."""

    def __init__(self, inner: Any, gone: Path) -> None:
        self.inner = inner
        self.gone = gone

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def open(self, digest: Digest, *args: Any, **kwargs: Any) -> BlobContent:
        content: BlobContent = await self.inner.open(digest, *args, **kwargs)
        if content.file is not None:
            content.file.close()
        self.gone.write_bytes(b"")
        fd = os.open(self.gone, os.O_RDONLY)
        return BlobContent(content.descriptor, file=OpenFile(fd, 0))


class _VanishingFileRepository:
    def __init__(self, inner: Any, gone: Path) -> None:
        self.inner = inner
        self.blobs = _VanishingFileBlobs(inner.blobs, gone)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _VanishingFileRegistry:
    def __init__(self, inner: StorageRegistry, gone: Path) -> None:
        self.inner = inner
        self.gone = gone

    def repository(self, name: str) -> Any:
        return _VanishingFileRepository(self.inner.repository(name), self.gone)


async def test_range_of_a_file_cut_short_is_a_json_500(
    make_client: Any, fs_registry: StorageRegistry, tmp_path: Path
) -> None:
    writer = make_client(registry_=fs_registry)
    digest = await push_blob(writer, NAME, DATA)
    reader = make_client(registry_=_VanishingFileRegistry(fs_registry, tmp_path / "gone"))
    response = await reader.get(f"/v2/{NAME}/blobs/{digest}", headers={"Range": "bytes=0-9"})
    assert response.status_code == 500
    assert error_codes(response) == ["UNKNOWN"]
    assert response.headers["docker-distribution-api-version"] == API_VERSION


# --- request context ------------------------------------------------------------------------


def _context(registry: StorageRegistry, headers: Any) -> RequestContext:
    settings = ApiSettings(secret=SECRET)
    services = Services(
        registry=registry,
        settings=settings,
        authorizer=None,
        codec=UploadStateCodec(SECRET, settings.upload_state_ttl),
    )

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "GET", "path": "/v2/", "headers": headers}
    return RequestContext(scope, receive, services, "", "")


def test_header_lookup_ignores_the_case_of_the_name(registry: StorageRegistry) -> None:
    ctx = _context(registry, [(b"if-none-match", b'"x"')])
    assert ctx.header("If-None-Match") == '"x"'


def test_header_lookup_of_an_absent_header_is_none(registry: StorageRegistry) -> None:
    assert _context(registry, [(b"host", b"h")]).header("range") is None


def test_header_lookup_reads_headers_given_as_a_one_shot_iterable_twice(
    registry: StorageRegistry,
) -> None:
    ctx = _context(registry, iter([(b"host", b"registry.test"), (b"range", b"bytes=0-1")]))
    assert ctx.header("range") == "bytes=0-1"
    assert ctx.header("host") == "registry.test"
    assert ctx.request.headers["range"] == "bytes=0-1"


def test_header_lookup_returns_the_first_of_repeated_headers(
    registry: StorageRegistry,
) -> None:
    ctx = _context(registry, [(b"accept", b"a"), (b"accept", b"b")])
    assert ctx.header("accept") == "a"


# --- routing --------------------------------------------------------------------------------


def test_valid_names_are_remembered_within_an_entry_bound() -> None:
    names = routes.NameValidator(max_entries=2)
    for name in ("a", "b", "c", "d", "e"):
        routes.parse(f"/v2/{name}/tags/list", names=names)
        assert len(names) <= 2


def test_valid_names_are_remembered_within_a_character_bound() -> None:
    names = routes.NameValidator(max_chars=10)
    for name in ("abcd", "efgh", "ijkl", "mnop"):
        routes.parse(f"/v2/{name}/tags/list", names=names)
        assert names.chars <= 10


async def test_each_application_owns_its_memo_of_valid_names(
    registry: StorageRegistry,
) -> None:
    services = _context(registry, []).services
    one = RegistryApp(services, _not_found, frozenset())
    two = RegistryApp(services, _not_found, frozenset())
    transport = httpx.ASGITransport(app=one)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
        assert (await client.get("/v2/library/app/tags/list")).status_code == 404
    assert len(one.names) == 1
    assert len(two.names) == 0


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def test_the_routes_module_keeps_no_memo_of_names() -> None:
    routes.parse("/v2/library/app/tags/list")
    mutable = [
        name
        for name, value in vars(routes).items()
        if isinstance(value, (set, dict, list)) and not name.startswith("__")
    ]
    assert mutable == []


async def test_invalid_tags_stay_unknown_after_valid_ones(client: httpx.AsyncClient) -> None:
    await push_image(client, NAME, "v1")
    assert (await client.get(f"/v2/{NAME}/manifests/v1")).status_code == 200
    response = await client.get(f"/v2/{NAME}/manifests/-v1")
    assert error_codes(response) == ["MANIFEST_UNKNOWN"]


def test_invalid_names_stay_invalid_after_valid_ones() -> None:
    names = routes.NameValidator()
    routes.parse("/v2/library/app/tags/list", names=names)
    with pytest.raises(NameInvalid):
        routes.parse("/v2/library/App/tags/list", names=names)
    with pytest.raises(NameInvalid):
        routes.parse("/v2/library/App/tags/list", names=names)
