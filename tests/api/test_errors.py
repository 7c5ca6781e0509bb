"""The one table from typed errors to OCI codes and statuses, and the JSON it produces."""

from __future__ import annotations

import json
import logging

import pytest

from dockyard.api.errors import (
    MethodUnsupported,
    PaginationNumberInvalid,
    error_response,
    internal_error,
    lookup,
)
from dockyard.auth.base import AccessDenied, AuthChallenge
from dockyard.errors import (
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    Denied,
    DigestInvalid,
    DockyardError,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestTooLarge,
    ManifestUnknown,
    ManifestUnverified,
    NameInvalid,
    NameUnknown,
    RangeInvalid,
    ReadOnly,
    SizeInvalid,
    TagInvalid,
    TagUnknown,
    TooManyRequests,
    Unauthorized,
    Unsupported,
    UploadOffsetMismatch,
)


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (DigestInvalid(), "DIGEST_INVALID", 400),
        (NameInvalid(), "NAME_INVALID", 400),
        (TagInvalid(), "TAG_INVALID", 400),
        (SizeInvalid(), "SIZE_INVALID", 400),
        (RangeInvalid(), "RANGE_INVALID", 416),
        (PaginationNumberInvalid(), "PAGINATION_NUMBER_INVALID", 400),
        (NameUnknown(), "NAME_UNKNOWN", 404),
        (BlobUnknown("sha256:x"), "BLOB_UNKNOWN", 404),
        (BlobUploadUnknown(), "BLOB_UPLOAD_UNKNOWN", 404),
        (BlobUploadInvalid(), "BLOB_UPLOAD_INVALID", 400),
        (UploadOffsetMismatch(10, 0), "BLOB_UPLOAD_INVALID", 416),
        (ManifestUnknown(), "MANIFEST_UNKNOWN", 404),
        (TagUnknown(), "MANIFEST_UNKNOWN", 404),
        (ManifestInvalid(), "MANIFEST_INVALID", 400),
        (ManifestTooLarge(10, 5), "MANIFEST_INVALID", 413),
        (ManifestUnverified(), "MANIFEST_UNVERIFIED", 400),
        (ManifestBlobUnknown(["sha256:x"]), "MANIFEST_BLOB_UNKNOWN", 400),
        (Unsupported(), "UNSUPPORTED", 405),
        (ReadOnly(), "UNSUPPORTED", 405),
        (Denied(), "DENIED", 403),
        (AccessDenied(), "DENIED", 403),
        (Unauthorized(), "UNAUTHORIZED", 401),
        (AuthChallenge('Basic realm="x"'), "UNAUTHORIZED", 401),
        (TooManyRequests(), "TOOMANYREQUESTS", 429),
    ],
)
def test_error_maps_to_its_oci_code_and_status(
    error: DockyardError, code: str, status: int
) -> None:
    assert lookup(error) == (code, status)
    response = error_response(error)
    assert response.status_code == status
    document = json.loads(bytes(response.body))
    assert document["errors"][0]["code"] == code
    assert response.headers["content-type"] == "application/json"


def test_error_body_carries_message_and_detail() -> None:
    response = error_response(BlobUnknown("sha256:abc"))
    entry = json.loads(bytes(response.body))["errors"][0]
    assert entry == {
        "code": "BLOB_UNKNOWN",
        "message": "blob sha256:abc is unknown",
        "detail": {"digest": "sha256:abc"},
    }


def test_manifest_blob_unknown_lists_every_missing_digest() -> None:
    response = error_response(ManifestBlobUnknown(["sha256:a", "sha256:b"]))
    errors = json.loads(bytes(response.body))["errors"]
    assert [e["detail"]["digest"] for e in errors] == ["sha256:a", "sha256:b"]
    assert {e["code"] for e in errors} == {"MANIFEST_BLOB_UNKNOWN"}


def test_auth_challenge_sets_www_authenticate() -> None:
    response = error_response(AuthChallenge('Bearer realm="https://auth"'))
    assert response.headers["www-authenticate"] == 'Bearer realm="https://auth"'


def test_method_unsupported_sets_allow() -> None:
    response = error_response(MethodUnsupported("POST", ["GET", "HEAD"]))
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_unmapped_dockyard_error_is_a_generic_500() -> None:
    class Strange(DockyardError):
        """Something no table row covers."""

    response = error_response(Strange("/secret/storage/path"))
    assert response.status_code == 500
    assert b"/secret/storage/path" not in bytes(response.body)


def test_internal_error_logs_the_traceback_but_hides_it(caplog: pytest.LogCaptureFixture) -> None:
    try:
        raise ValueError("boom at /var/lib/registry")
    except ValueError as exc:
        with caplog.at_level(logging.ERROR, logger="dockyard.api"):
            response = internal_error(exc)
    body = bytes(response.body)
    assert response.status_code == 500
    assert json.loads(body)["errors"][0]["code"] == "UNKNOWN"
    assert b"boom" not in body
    assert "boom" in caplog.text
