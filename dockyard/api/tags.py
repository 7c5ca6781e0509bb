"""``GET /v2/<name>/tags/list``: a repository's tags, sorted, in pages."""

from __future__ import annotations

import json
import re
from typing import Final

from starlette.responses import Response

from dockyard.api.context import RequestContext
from dockyard.api.pagination import next_link, page_size
from dockyard.api.responses import JSON_TYPE, json_document
from dockyard.errors import NameUnknown

#: Characters a JSON string holds as they are (tag names are a subset).
_PLAIN: Final = re.compile(r"[A-Za-z0-9._/-]*")


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
    return Response(_tags_body(ctx.name, page.items), headers=headers, media_type=JSON_TYPE)


def _tags_body(name: str, tags: list[str]) -> bytes:
    """The ``{"name", "tags"}`` document, compact."""
    if _PLAIN.fullmatch("".join(tags)):
        # Names in the path grammar need no escaping: joining them is exact, and far
        # cheaper than encoding a thousand strings one by one.
        listed = '"' + '","'.join(tags) + '"' if tags else ""
        return f'{{"name":{json.dumps(name)},"tags":[{listed}]}}'.encode()
    return json.dumps({"name": name, "tags": tags}, separators=(",", ":")).encode()
