"""``GET /v2/_catalog``: the repositories of the registry, sorted, in pages."""

from __future__ import annotations

from typing import Final

from starlette.responses import Response

from dockyard.api.context import RequestContext
from dockyard.api.pagination import next_link, page_size
from dockyard.api.responses import json_document

#: The reference registry's defaults: 100 entries a page unless asked, 1000 at most.
DEFAULT_ENTRIES: Final = 100
MAX_ENTRIES: Final = 1000


async def get(ctx: RequestContext) -> Response:
    """``{"repositories"}`` after ``last``, at most ``n``, with a ``Link`` when more follow."""
    n = page_size(ctx, default=DEFAULT_ENTRIES, maximum=MAX_ENTRIES)
    if n == 0:
        return json_document({"repositories": []})
    last = ctx.query("last") or None
    page = await ctx.services.registry.catalog(last=last, n=n)
    headers = None
    if page.more and page.items:
        headers = {"Link": next_link("/v2/_catalog", page.items[-1], n)}
    return json_document({"repositories": page.items}, headers=headers)
