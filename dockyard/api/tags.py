"""``GET /v2/<name>/tags/list``: a repository's tags, sorted, in pages."""

from __future__ import annotations

from starlette.responses import Response

from dockyard.api.context import RequestContext
from dockyard.api.pagination import next_link, page_size
from dockyard.api.responses import json_document
from dockyard.errors import NameUnknown


async def get(ctx: RequestContext) -> Response:
    """``{"name", "tags"}`` after ``last``, at most ``n``, with a ``Link`` when more follow."""
    n = page_size(ctx, default=None, maximum=None)
    last = ctx.query("last") or None
    repository = ctx.repository
    if n == 0:
        if not await repository.exists():
            raise NameUnknown(f"repository {ctx.name} is not known to the registry")
        return json_document({"name": ctx.name, "tags": []})
    page = await repository.tags.list(last=last, n=n)
    if not page.items and last is None and not await repository.exists():
        raise NameUnknown(f"repository {ctx.name} is not known to the registry")
    headers = None
    if page.more and page.items:
        headers = {"Link": next_link(f"/v2/{ctx.name}/tags/list", page.items[-1], n)}
    return json_document({"name": ctx.name, "tags": page.items}, headers=headers)
