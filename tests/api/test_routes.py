"""Reading API paths from the right: which endpoint, which repository, which argument."""

from __future__ import annotations

import pytest

from dockyard.api.errors import RouteUnknown
from dockyard.api.routes import Endpoint, parse
from dockyard.errors import NameInvalid

DIGEST = "sha256:" + "a" * 64


def test_base_path_with_and_without_slash() -> None:
    assert parse("/v2/")[0] is Endpoint.BASE
    assert parse("/v2")[0] is Endpoint.BASE


def test_catalog_path() -> None:
    assert parse("/v2/_catalog")[0] is Endpoint.CATALOG


def test_manifest_path_keeps_slashes_in_the_name() -> None:
    route = parse("/v2/a/b/c/manifests/latest")
    assert route == (Endpoint.MANIFEST, "a/b/c", "latest")


def test_blob_path() -> None:
    route = parse(f"/v2/library/app/blobs/{DIGEST}")
    assert route == (Endpoint.BLOB, "library/app", DIGEST)


def test_new_upload_path_with_trailing_slash() -> None:
    route = parse("/v2/library/app/blobs/uploads/")
    assert route == (Endpoint.UPLOAD, "library/app", "")


def test_new_upload_path_without_trailing_slash() -> None:
    route = parse("/v2/app/blobs/uploads")
    assert route == (Endpoint.UPLOAD, "app", "")


def test_upload_session_path() -> None:
    route = parse("/v2/app/blobs/uploads/1234-abcd")
    assert route == (Endpoint.UPLOAD, "app", "1234-abcd")


def test_repository_named_like_an_endpoint_parses_from_the_right() -> None:
    route = parse(f"/v2/x/blobs/uploads/blobs/{DIGEST}")
    assert route[:2] == (Endpoint.BLOB, "x/blobs/uploads")


def test_tags_list_path() -> None:
    route = parse("/v2/app/tags/list")
    assert route[:2] == (Endpoint.TAGS, "app")


def test_referrers_path() -> None:
    route = parse(f"/v2/app/referrers/{DIGEST}")
    assert route == (Endpoint.REFERRERS, "app", DIGEST)


@pytest.mark.parametrize(
    "path",
    [
        "/v2/app",
        "/v2/app/manifests/",
        "/v2/app/blobs/",
        "/v2/app/tags/other",
        "/v3/app/tags/list",
        "/v2/manifests/latest",
        "/v2/app/unknown/x",
        "/",
    ],
)
def test_paths_of_no_endpoint_are_unknown(path: str) -> None:
    with pytest.raises(RouteUnknown):
        parse(path)


@pytest.mark.parametrize("name", ["UPPER", "a//b", "-lead", "trail-", "a" * 256, "a/../b"])
def test_malformed_repository_names_are_invalid(name: str) -> None:
    with pytest.raises(NameInvalid):
        parse(f"/v2/{name}/tags/list")
