"""The ``n``/``last`` parameters of listings and the ``Link`` header to the next page."""

from __future__ import annotations

from typing import Final
from urllib.parse import urlencode

from dockyard.api.context import RequestContext
from dockyard.api.errors import PaginationNumberInvalid

#: Beyond this many digits ``n`` cannot be a sensible page size (and int() stays cheap).
_MAX_DIGITS: Final = 9


def page_size(ctx: RequestContext, default: int | None, maximum: int | None) -> int | None:
    """The requested ``n``: a non-negative integer, at most ``maximum`` when given."""
    raw = ctx.query("n")
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > _MAX_DIGITS:
        raise PaginationNumberInvalid(f"n must be a non-negative integer, got {raw[:20]!r}")
    n = int(raw)
    if maximum is not None and n > maximum:
        raise PaginationNumberInvalid(f"n must be at most {maximum}", detail={"n": n})
    return n


def next_link(path: str, last: str, n: int | None, **extra: str) -> str:
    """An RFC 8288 ``Link`` header value pointing at the page after ``last``."""
    params = dict(extra)
    params["last"] = last
    if n is not None:
        params["n"] = str(n)
    return f'<{path}?{urlencode(params)}>; rel="next"'
