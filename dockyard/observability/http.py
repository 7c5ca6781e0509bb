"""Per-request metrics of the HTTP layer, recorded by one ASGI middleware."""

from __future__ import annotations

import time
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.observability.metrics import METRICS, Metrics

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


class MetricsMiddleware:
    """Counts every HTTP request under the reference registry's metric names.

    Also counts dockyard's own: body bytes in and out, upload requests in flight,
    access-control refusals (401/403) and rate-limit refusals (429).
    """

    def __init__(self, app: ASGIApp, metrics: Metrics = METRICS) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        handler = handler_name(path)
        method: str = scope["method"]
        metrics = self.metrics
        labels = (handler,)
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
        metrics.in_flight.inc(labels)
        started = time.perf_counter()
        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            elapsed = time.perf_counter() - started
            metrics.in_flight.dec(labels)
            if upload:
                metrics.uploads_in_flight.dec()
            metrics.requests.inc((handler, str(status), method))
            metrics.request_duration.observe((handler, method), elapsed)
            metrics.request_size.observe(labels, received)
            metrics.response_size.observe(labels, sent)
            if received:
                metrics.received_bytes.inc(labels, received)
            metrics.sent_bytes.inc(labels, sent)
            if status in (401, 403):
                metrics.auth_failures.inc((str(status),))
            elif status == 429:
                metrics.rate_limited.inc()
