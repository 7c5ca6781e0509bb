"""``GET /v2/``: the API version check every client starts with."""

from __future__ import annotations

from starlette.responses import Response

from dockyard.api.context import RequestContext
from dockyard.api.responses import JSON_TYPE

_BODY = b"{}"


async def get(ctx: RequestContext) -> Response:
    """200 ``{}``: this registry speaks the v2 API (access was checked by the dispatcher)."""
    return Response(_BODY, media_type=JSON_TYPE)
