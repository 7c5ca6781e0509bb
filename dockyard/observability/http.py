"""Per-request metrics of the HTTP layer, recorded by one ASGI middleware."""

from __future__ import annotations

from bisect import bisect_left
from time import perf_counter
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.observability.metrics import (
    DURATION_BUCKETS,
    METRICS,
    SIZE_BUCKETS,
    Metrics,
)

_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})
_UPLOAD_HANDLERS: Final = frozenset({"blob_upload", "blob_upload_chunk"})


def handler_name(path: str) -> str:
    """The reference registry's route name for an API path (``manifest``, ``blob`` …).

    The endpoint keyword is always the second-last path component (a repository name can
    contain ``manifests`` only before it), so two ``rpartition`` calls name the route.
    """
    if not path.startswith("/v2"):
        return "other"
    if path in ("/v2", "/v2/"):
        return "base"
    if path == "/v2/_catalog":
        return "catalog"
    head, _, last = path.rpartition("/")
    rest, _, parent = head.rpartition("/")
    if parent == "manifests":
        return "manifest"
    if parent == "blobs":
        return "blob_upload" if last == "uploads" else "blob"
    if parent == "uploads" and rest.endswith("/blobs"):
        return "blob_upload_chunk" if last else "blob_upload"
    if parent == "tags" and last == "list":
        return "tags"
    if parent == "referrers":
        return "referrers"
    return "other"


class _Row:
    """The cells one kind of request (handler, method, status) updates, found once."""

    __slots__ = ("duration", "received", "request_size", "requests", "response_size", "sent")

    def __init__(self, metrics: Metrics, handler: str, method: str, status: int) -> None:
        labels = (handler,)
        self.requests = metrics.requests.cell((handler, str(status), method))
        self.duration = metrics.request_duration.row((handler, method))
        self.request_size = metrics.request_size.row(labels)
        self.response_size = metrics.response_size.row(labels)
        self.received = metrics.received_bytes.cell(labels)
        self.sent = metrics.sent_bytes.cell(labels)


#: Paths remembered with their handler name at most (then forgotten all at once), and the
#: memory they may hold: each path charged its length plus ``_HANDLER_ENTRY_BYTES``.
_HANDLER_CACHE_SIZE: Final = 4096
_HANDLER_CACHE_BYTES: Final = 1 << 20
_HANDLER_ENTRY_BYTES: Final = 160


class MetricsMiddleware:
    """Counts every HTTP request under the reference registry's metric names.

    Also counts dockyard's own: body bytes in and out, upload requests in flight,
    access-control refusals (401/403) and rate-limit refusals (429). A request costs a
    few dict look-ups and list additions: the cells it updates are kept per kind of
    request, and handler names per path.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics = METRICS) -> None:
        self.app = app
        self.metrics = metrics
        self._handlers: dict[str, str] = {}
        self._handler_bytes = 0
        self._rows: dict[tuple[str, str, int], _Row] = {}
        self._in_flight: dict[str, list[float]] = {}

    def _handler(self, path: str) -> str:
        handlers = self._handlers
        handler = handlers.get(path)
        if handler is None:
            charge = len(path) + _HANDLER_ENTRY_BYTES
            full = len(handlers) >= _HANDLER_CACHE_SIZE
            if full or self._handler_bytes + charge > _HANDLER_CACHE_BYTES:
                handlers.clear()
                self._handler_bytes = 0
            handler = handlers[path] = handler_name(path)
            self._handler_bytes += charge
        return handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        handler = self._handler(path)
        method: str = scope["method"]
        metrics = self.metrics
        status = 500
        sent = 0
        received = 0

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            else:
                sent += len(message.get("body", b""))
            await send(message)

        counting_receive = receive
        if method in _BODY_METHODS:

            async def counting_receive() -> Message:
                nonlocal received
                message = await receive()
                received += len(message.get("body", b""))
                return message

        upload = handler in _UPLOAD_HANDLERS and method in _BODY_METHODS
        if upload:
            metrics.uploads_in_flight.inc()
        in_flight = self._in_flight.get(handler)
        if in_flight is None:
            in_flight = self._in_flight[handler] = metrics.in_flight.cell((handler,))
        in_flight[0] += 1
        started = perf_counter()
        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            elapsed = perf_counter() - started
            in_flight[0] -= 1
            if upload:
                metrics.uploads_in_flight.dec()
            key = (handler, method, status)
            row = self._rows.get(key)
            if row is None:
                row = self._rows[key] = _Row(metrics, handler, method, status)
            # The histograms' ``record``, written out: this runs for every request.
            row.requests[0] += 1
            duration = row.duration
            duration[0] += elapsed
            duration[1 + bisect_left(DURATION_BUCKETS, elapsed)] += 1
            request_size = row.request_size
            request_size[0] += received
            request_size[1 + bisect_left(SIZE_BUCKETS, received)] += 1
            response_size = row.response_size
            response_size[0] += sent
            response_size[1 + bisect_left(SIZE_BUCKETS, sent)] += 1
            row.received[0] += received
            row.sent[0] += sent
            if status in (401, 403):
                metrics.auth_failures.inc((str(status),))
            elif status == 429:
                metrics.rate_limited.inc()
