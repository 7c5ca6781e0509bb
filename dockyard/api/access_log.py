"""Every request's id and its access log line.

``RequestLog`` wraps the whole app. It takes the request id from ``X-Request-Id`` (or
makes one), returns it in the response, makes it the id of every log line written while
the request is handled (``dockyard.logs.request_id``), and, when the access log is on,
writes one line per request: the Combined Log Format the reference registry writes,
followed by the request id, repository, bytes received and duration; in JSON the same
as fields. The path is logged as the client sent it (percent-encoded), without the
signed ``_state`` upload token.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.logs import ACCESS_FIELDS, ACCESS_LOGGER, request_id

access_logger = logging.getLogger(ACCESS_LOGGER)

#: A request id a client may choose: short, and nothing that needs escaping.
_CLIENT_ID: Final = re.compile(rb"[A-Za-z0-9._:@+=-]{1,128}")
_REQUEST_ID: Final = b"x-request-id"
#: Query parameters never written to a log (the upload state is a bearer credential).
_SECRET_PARAMETERS: Final = frozenset({"_state"})


@dataclass(slots=True)
class RequestRecord:
    """What the access line says about one request; the API fills in who and where."""

    id: str
    user: str | None = None
    repository: str | None = None
    status: int = 0
    bytes_in: int = 0
    bytes_out: int = 0


#: The record of the request being handled in this context, for the API to fill in.
current_request: ContextVar[RequestRecord | None] = ContextVar(
    "dockyard_request_record", default=None
)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == _REQUEST_ID:
            if _CLIENT_ID.fullmatch(value):
                return str(value.decode("ascii"))
            break
    return str(uuid.uuid4())


class RequestLog:
    """Gives every request an id, and logs one access line per request if ``enabled``."""

    def __init__(self, app: ASGIApp, *, enabled: bool) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        record = RequestRecord(_request_id(scope))
        id_header = (_REQUEST_ID, record.id.encode("ascii"))
        id_token = request_id.set(record.id)
        record_token = current_request.set(record)

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                record.bytes_in += len(message.get("body", b""))
            return message

        async def recording_send(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                record.status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            elif kind == "http.response.body":
                record.bytes_out += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counting_receive if self.enabled else receive, recording_send)
        finally:
            if self.enabled:
                _log_access(scope, record, time.perf_counter() - started)
            current_request.reset(record_token)
            request_id.reset(id_token)


def logged_path(scope: Scope) -> str:
    """The request target as sent (percent-encoded), without secret query parameters."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else scope["path"]
    query: bytes = scope.get("query_string", b"")
    if not query:
        return path
    text = query.decode("latin-1")
    if any(f"{name}=" in text for name in _SECRET_PARAMETERS):
        pairs = parse_qsl(text, keep_blank_values=True)
        text = urlencode([(k, v) for k, v in pairs if k not in _SECRET_PARAMETERS])
    return f"{path}?{text}" if text else path


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return str(value.decode("latin-1"))
    return None


def _quoted(value: str | None) -> str:
    """A quoted field of the Combined Log Format (``-`` when absent)."""
    if not value:
        return '"-"'
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _clf_time(seconds: float) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(seconds))


def _log_access(scope: Scope, record: RequestRecord, elapsed: float) -> None:
    client = scope.get("client")
    remote = client[0] if client else "-"
    method: str = scope["method"]
    path = logged_path(scope)
    protocol = f"HTTP/{scope.get('http_version', '1.1')}"
    agent = _header(scope, b"user-agent")
    referer = _header(scope, b"referer")
    user = record.user
    duration_ms = round(elapsed * 1000, 3)
    fields: dict[str, Any] = {
        "request_id": record.id,
        "remote_addr": remote,
        "user": user,
        "method": method,
        "path": path,
        "protocol": protocol,
        "status": record.status,
        "bytes_in": record.bytes_in,
        "bytes_out": record.bytes_out,
        "duration_ms": duration_ms,
        "user_agent": agent,
        "referer": referer,
        "repository": record.repository,
    }
    access_logger.info(
        "%s - %s [%s] %s %d %s %s %s request_id=%s repository=%s bytes_in=%d duration_ms=%.3f",
        remote,
        user.replace(" ", "%20") if user else "-",
        _clf_time(time.time()),
        _quoted(f"{method} {path} {protocol}"),
        record.status,
        record.bytes_out or "-",
        _quoted(referer),
        _quoted(agent),
        record.id,
        record.repository or "-",
        record.bytes_in,
        duration_ms,
        extra={ACCESS_FIELDS: fields},
    )
