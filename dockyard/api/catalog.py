"""``GET /v2/_catalog``: the repositories of the registry, sorted, in pages."""

from __future__ import annotations

from typing import Final

from starlette.responses import Response

from dockyard.api.context import RequestContext
from dockyard.api.pagination import next_link, page_size
from dockyard.api.responses import json_document

#: The reference registry's default: 100 entries a page unless asked (never more than
#: ``catalog.maxentries``, which caps ``n``).
DEFAULT_ENTRIES: Final = 100


async def get(ctx: RequestContext) -> Response:
    """``{"repositories"}`` after ``last``, at most ``n``, with a ``Link`` when more follow.

    ``n`` above ``catalog.maxentries`` is ``PAGINATION_NUMBER_INVALID``, as the reference
    answers it.
    """
    maximum = ctx.settings.catalog_max_entries
    n = page_size(ctx, default=min(DEFAULT_ENTRIES, maximum), maximum=maximum)
    if n == 0:
        return json_document({"repositories": []})
    last = ctx.query("last") or None
    page = await ctx.services.registry.catalog(last=last, n=n)
    headers = None
    if page.more and page.items:
        headers = {"Link": next_link("/v2/_catalog", page.items[-1], n)}
    return json_document({"repositories": page.items}, headers=headers)
