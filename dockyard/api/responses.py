"""Builders for the API's responses, with header lists written out as ASGI sends them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

API_VERSION: Final = (b"docker-distribution-api-version", b"registry/2.0")
JSON_TYPE: Final = "application/json"
#: Header names as they go on the wire (ASGI wants them lower-case bytes).
CONTENT_LENGTH: Final = b"content-length"
CONTENT_TYPE: Final = b"content-type"
DOCKER_CONTENT_DIGEST: Final = b"docker-content-digest"
ETAG: Final = b"etag"
ZERO_LENGTH: Final = (CONTENT_LENGTH, b"0")
_NO_CONTENT_LENGTH: Final = frozenset({204, 304})

#: One compact encoder for every JSON body: ``json.dumps`` with ``separators`` builds a
#: new encoder on each call.
COMPACT_JSON: Final = json.JSONEncoder(separators=(",", ":"))

RawHeaders = list[tuple[bytes, bytes]]


class PreparedResponse(Response):
    """A response whose ASGI header list its builder wrote out whole.

    Starlette's ``Response`` renders a header mapping on every construction (lower-casing,
    encoding, scanning for ``Content-Length``/``Content-Type``); the hot handlers already
    know every header, so they hand the list over as ASGI sends it. The builder owns
    ``Content-Length`` (a HEAD reply states the length of the body it omits); the list must
    be fresh per response, since the dispatcher appends to it.
    """

    def __init__(self, status: int, headers: RawHeaders, body: bytes = b"") -> None:
        # Starlette's __init__ is skipped on purpose: it would render the headers again.
        self.status_code = status
        self.body = body
        self.raw_headers = headers
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send({"type": "http.response.body", "body": self.body})


def empty(status: int, headers: Mapping[str, str] | None = None) -> Response:
    """A response with no body: ``Content-Length: 0``, except on a 204 or 304 (which
    have no body by definition, so HTTP forbids the header there)."""
    raw = raw_headers(headers) if headers else []
    if status not in _NO_CONTENT_LENGTH:
        raw.append(ZERO_LENGTH)
    return PreparedResponse(status, raw)


def json_document(
    document: Any,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    media_type: str = JSON_TYPE,
) -> Response:
    """A compact JSON response."""
    body = COMPACT_JSON.encode(document).encode()
    raw = raw_headers(headers) if headers else []
    raw.append((CONTENT_LENGTH, b"%d" % len(body)))
    raw.append((CONTENT_TYPE, media_type.encode("latin-1")))
    return PreparedResponse(status, raw, body)


def raw_headers(headers: Mapping[str, str]) -> RawHeaders:
    """``headers`` as ASGI sends them: lower-case names, latin-1 bytes."""
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
