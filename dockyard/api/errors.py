"""The one table from dockyard's typed errors to OCI error codes, and JSON error responses.

Every failure the API reports is ``{"errors": [{"code", "message", "detail"}]}`` with the
status the distribution-spec (and, for its extras, the reference registry) gives the code.
Errors not in the table are unexpected: they become a generic 500 and are logged here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Final

from starlette.responses import Response

from dockyard.api.responses import (
    COMPACT_JSON,
    CONTENT_LENGTH,
    CONTENT_TYPE,
    PreparedResponse,
    RawHeaders,
    raw_headers,
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
    SizeInvalid,
    StorageUnavailable,
    TagInvalid,
    TooManyRequests,
    Unauthorized,
    Unsupported,
    UploadOffsetMismatch,
)

logger = logging.getLogger("dockyard.api")

JSON_TYPE: Final = "application/json"
_JSON_CONTENT_TYPE: Final = (CONTENT_TYPE, JSON_TYPE.encode())


class PaginationNumberInvalid(DockyardError):
    """The ``n`` parameter of a listing is not a valid number of entries."""


class ChunkTooSmall(BlobUploadInvalid):
    """More data followed a chunk shorter than the advertised ``OCI-Chunk-Min-Length``."""


class RouteUnknown(DockyardError):
    """No API endpoint serves this path."""


class MethodUnsupported(Unsupported):
    """The endpoint does not support this HTTP method."""

    def __init__(self, method: str, allowed: Iterable[str]) -> None:
        super().__init__(f"method {method[:16]} is not supported here")
        self.allowed = tuple(allowed)


#: dockyard error class → (OCI error code, HTTP status). Looked up along the class's MRO,
#: so a subclass maps like its base unless it has its own row.
ERROR_TABLE: Final[Mapping[type[Exception], tuple[str, int]]] = {
    DigestInvalid: ("DIGEST_INVALID", 400),
    NameInvalid: ("NAME_INVALID", 400),
    TagInvalid: ("TAG_INVALID", 400),
    SizeInvalid: ("SIZE_INVALID", 400),
    RangeInvalid: ("RANGE_INVALID", 416),
    PaginationNumberInvalid: ("PAGINATION_NUMBER_INVALID", 400),
    NameUnknown: ("NAME_UNKNOWN", 404),
    BlobUnknown: ("BLOB_UNKNOWN", 404),
    BlobUploadUnknown: ("BLOB_UPLOAD_UNKNOWN", 404),
    UploadOffsetMismatch: ("BLOB_UPLOAD_INVALID", 416),
    ChunkTooSmall: ("BLOB_UPLOAD_INVALID", 416),
    BlobUploadInvalid: ("BLOB_UPLOAD_INVALID", 400),
    ManifestUnknown: ("MANIFEST_UNKNOWN", 404),
    ManifestInvalid: ("MANIFEST_INVALID", 400),
    ManifestTooLarge: ("MANIFEST_INVALID", 413),
    ManifestUnverified: ("MANIFEST_UNVERIFIED", 400),
    ManifestBlobUnknown: ("MANIFEST_BLOB_UNKNOWN", 400),
    Unsupported: ("UNSUPPORTED", 405),
    Denied: ("DENIED", 403),
    AccessDenied: ("DENIED", 403),
    Unauthorized: ("UNAUTHORIZED", 401),
    AuthChallenge: ("UNAUTHORIZED", 401),
    TooManyRequests: ("TOOMANYREQUESTS", 429),
    RouteUnknown: ("NOT_FOUND", 404),
    StorageUnavailable: ("UNAVAILABLE", 503),
}


def lookup(exc: BaseException) -> tuple[str, int] | None:
    """The OCI code and status for ``exc``, or None when it is not an expected error."""
    for cls in type(exc).__mro__:
        row = ERROR_TABLE.get(cls)
        if row is not None:
            return row
    return None


def error_body(entries: Iterable[tuple[str, str, Any]]) -> bytes:
    """The JSON error document for ``(code, message, detail)`` entries."""
    errors = [
        {"code": code, "message": message, "detail": detail} for code, message, detail in entries
    ]
    return COMPACT_JSON.encode({"errors": errors}).encode()


def json_error(
    code: str,
    message: str,
    status: int,
    detail: Any = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A single-error JSON response."""
    return _response(
        error_body([(code, message, detail)]), status, raw_headers(headers) if headers else []
    )


def error_response(exc: DockyardError, headers: Mapping[str, str] | None = None) -> Response:
    """The response for an expected error, by the table; unexpected ones become a 500."""
    row = lookup(exc)
    if row is None:
        return internal_error(exc)
    code, status = row
    extra = raw_headers(headers) if headers else []
    if isinstance(exc, AuthChallenge):
        extra.append((b"www-authenticate", exc.challenge.encode("latin-1")))
    elif isinstance(exc, MethodUnsupported):
        extra.append((b"allow", ", ".join(exc.allowed).encode("latin-1")))
    elif isinstance(exc, TooManyRequests):
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, int):
            extra.append((b"retry-after", b"%d" % retry_after))
    if isinstance(exc, ManifestBlobUnknown):
        # One entry per missing digest, as the spec and the reference report them.
        entries = [
            (code, f"blob {d} is unknown to the repository", {"digest": str(d)})
            for d in exc.digests
        ] or [(code, exc.message, exc.detail)]
        return _response(error_body(entries), status, extra)
    return _response(error_body([(code, exc.message, exc.detail)]), status, extra)


def internal_error(exc: BaseException) -> Response:
    """A generic 500 that reveals nothing; the traceback goes to the server log."""
    logger.error("unexpected error while handling a request", exc_info=exc)
    return json_error("UNKNOWN", "internal server error", 500)


def _response(body: bytes, status: int, headers: RawHeaders) -> Response:
    """The JSON error response, its header list written out (as Starlette would render it)."""
    headers.append((CONTENT_LENGTH, b"%d" % len(body)))
    headers.append(_JSON_CONTENT_TYPE)
    return PreparedResponse(status, headers, body)
