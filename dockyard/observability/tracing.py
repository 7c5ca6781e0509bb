"""OpenTelemetry tracing: a span per request and per storage call, when asked for.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``…_TRACES_ENDPOINT``) is set, and then
only with the ``tracing`` extra installed (``pip install 'dockyard[tracing]'``). The
exporter is OTLP over HTTP, configured by the standard ``OTEL_*`` variables. Spans are
exported in the background; when no collector listens, the exporter's failures are
logged once per ``QUIET_SECONDS`` with a count, not once per batch (distribution#4270).
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.observability.http import handler_name

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

logger = logging.getLogger("dockyard.tracing")

ENDPOINT_ENVS: Final = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
#: At most one exporter failure is logged per this many seconds.
QUIET_SECONDS: Final = 300.0
_EXPORTER_LOGGERS: Final = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http",
    "opentelemetry.sdk.trace.export",
    "opentelemetry.sdk._shared_internal",
)


def requested() -> bool:
    """Whether the environment asks for traces."""
    return any(os.environ.get(name) for name in ENDPOINT_ENVS)


class _Quiet(logging.Filter):
    """Lets one exporter warning through per ``QUIET_SECONDS``; counts the rest."""

    def __init__(self) -> None:
        super().__init__()
        self._last = float("-inf")
        self._suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        now = time.monotonic()
        if now - self._last < QUIET_SECONDS:
            self._suppressed += 1
            return False
        if self._suppressed:
            record.msg = f"{record.msg} ({self._suppressed} similar message(s) not logged)"
        record.exc_info = None  # a collector that is down needs no traceback
        record.exc_text = None
        self._last = now
        self._suppressed = 0
        return True


_TRACER: Tracer | None = None


def tracer() -> Tracer | None:
    """The process's tracer, set up on first use; None when tracing is off."""
    global _TRACER
    if _TRACER is not None or not requested():
        return _TRACER
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        logger.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set, but the tracing extra is not installed "
            "(pip install 'dockyard[tracing]'); tracing is off"
        )
        return None
    quiet = _Quiet()
    for name in _EXPORTER_LOGGERS:
        logging.getLogger(name).addFilter(quiet)
    service = os.environ.get("OTEL_SERVICE_NAME", "dockyard")
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _TRACER = trace.get_tracer("dockyard")
    return _TRACER


def shutdown() -> None:
    """Export what is left (briefly) and stop the exporter."""
    if _TRACER is None:
        return
    from opentelemetry import trace

    provider: Any = trace.get_tracer_provider()
    if hasattr(provider, "shutdown"):
        provider.shutdown()


def storage_span(tracer: Tracer) -> Any:
    """A ``storage.SpanFactory`` opening ``storage.<action>`` spans."""

    def span(driver: str, action: str) -> AbstractContextManager[object]:
        return tracer.start_as_current_span(
            f"storage.{action}", attributes={"storage.driver": driver}
        )

    return span


class TracingMiddleware:
    """One server span per HTTP request, continuing the caller's W3C trace context."""

    def __init__(self, app: ASGIApp, tracer: Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from opentelemetry import propagate
        from opentelemetry.trace import SpanKind, Status, StatusCode

        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        path = scope["path"]
        with self.tracer.start_as_current_span(
            f"{method} {handler_name(path)}",
            context=propagate.extract(headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path},
        ) as span:

            async def send_traced(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = message["status"]
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            await self.app(scope, receive, send_traced)
