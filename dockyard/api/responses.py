"""Small builders for the API's success responses."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from starlette.responses import Response

API_VERSION: Final = (b"docker-distribution-api-version", b"registry/2.0")
JSON_TYPE: Final = "application/json"


def empty(status: int, headers: Mapping[str, str] | None = None) -> Response:
    """A response with no body (``Content-Length: 0``)."""
    return Response(b"", status_code=status, headers=headers)


def json_document(
    document: Any,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    media_type: str = JSON_TYPE,
) -> Response:
    """A compact JSON response."""
    body = json.dumps(document, separators=(",", ":")).encode()
    return Response(body, status_code=status, headers=headers, media_type=media_type)
