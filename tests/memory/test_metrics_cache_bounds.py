"""The metrics middleware's memo of handler names holds no more memory than its bound."""

from __future__ import annotations

import httpx
from retained import released, tracing
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from dockyard.observability import http as observability_http
from dockyard.observability.http import MetricsMiddleware
from dockyard.observability.metrics import Metrics


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await Response(status_code=404)(scope, receive, send)


async def test_handler_memo_holds_no_more_than_its_bytes_bound_with_long_paths() -> None:
    with tracing():
        middleware = [MetricsMiddleware(_not_found, Metrics())]
        transport = httpx.ASGITransport(app=middleware[0])
        async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
            for n in range(800):  # paths of 4 KiB: three bounds' worth
                path = f"/v2/r{n:04}/{'p' * 4000}/manifests/latest"
                assert (await client.get(path)).status_code == 404
        del transport
        assert middleware[0]._handler_bytes <= observability_http._HANDLER_CACHE_BYTES
        held = released(middleware[0]._handlers.clear)
    assert held <= observability_http._HANDLER_CACHE_BYTES
