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

import functools
import itertools
import logging
import re
import secrets
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.logs import ACCESS_LOGGER, request_id

access_logger = logging.getLogger(ACCESS_LOGGER)

#: A request id a client may choose: short, and nothing that needs escaping.
_CLIENT_ID: Final = re.compile(rb"[A-Za-z0-9._:@+=-]{1,128}")
_REQUEST_ID: Final = b"x-request-id"
#: Generated ids: a random prefix per process and a counter, unique across instances.
_ID_PREFIX: Final = secrets.token_hex(6)
_ID_COUNTER: Final = itertools.count(1)
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
    return f"{_ID_PREFIX}-{next(_ID_COUNTER):x}"


#: The scope key under which ``RequestLog`` hands an app that ``sends_request_id`` the
#: response header carrying the request's id, for that app to add to its response.
ID_HEADER_SCOPE_KEY: Final = "dockyard.request_id_header"


class RequestLog:
    """Gives every request an id, and logs one access line per request if ``enabled``.

    When the access log is off and ``app`` says it ``sends_request_id`` (it adds the
    header under ``ID_HEADER_SCOPE_KEY`` to every response it sends), no wrapper is put
    around ``send``: on a small request that wrapper costs as much as a step of the work.
    """

    def __init__(self, app: ASGIApp, *, enabled: bool) -> None:
        self.app = app
        self.enabled = enabled
        self._app_sends_id = bool(getattr(app, "sends_request_id", False))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        identity = _request_id(scope)
        id_token = request_id.set(identity)
        try:
            if self.enabled:
                await self._logged(scope, receive, send, identity)
            elif self._app_sends_id:
                scope[ID_HEADER_SCOPE_KEY] = (_REQUEST_ID, identity.encode("ascii"))
                await self.app(scope, receive, send)
            else:
                # Without an access line there is nothing to record: only the id goes out.
                await self.app(scope, receive, _tagging(send, identity))
        finally:
            request_id.reset(id_token)

    async def _logged(self, scope: Scope, receive: Receive, send: Send, identity: str) -> None:
        """Handle the request while recording what its access line says, then write it."""
        started = time.perf_counter()
        record = RequestRecord(identity)
        id_header = (_REQUEST_ID, identity.encode("ascii"))
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
            await self.app(scope, counting_receive, recording_send)
        finally:
            _log_access(scope, record, time.perf_counter() - started)
            current_request.reset(record_token)


def _tagging(send: Send, identity: str) -> Send:
    """``send`` adding the request id to the response's headers."""
    return tagging(send, (_REQUEST_ID, identity.encode("ascii")))


def tagging(send: Send, id_header: tuple[bytes, bytes]) -> Send:
    """``send`` adding ``id_header`` to the response's headers."""

    async def tagging_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), id_header]
        await send(message)

    return tagging_send


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


@functools.lru_cache(maxsize=2)
def _clf_time(second: int) -> str:
    """``second`` as the Combined Log Format's date (one formatting per second)."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(second))


class AccessEntry:
    """One access line: the Combined Log Format as text, ``log_fields`` for JSON.

    Formatting waits until a handler writes the line, so nothing is formatted for a
    line that no handler writes.
    """

    __slots__ = ("duration", "record", "scope", "when")

    def __init__(self, scope: Scope, record: RequestRecord, duration: float) -> None:
        self.scope = scope
        self.record = record
        self.duration = duration
        self.when = time.time()

    def log_fields(self) -> dict[str, Any]:
        """The line's fields, for structured formats."""
        scope, record = self.scope, self.record
        client = scope.get("client")
        return {
            "request_id": record.id,
            "remote_addr": client[0] if client else None,
            "user": record.user,
            "method": scope["method"],
            "path": logged_path(scope),
            "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
            "status": record.status,
            "bytes_in": record.bytes_in,
            "bytes_out": record.bytes_out,
            "duration_ms": round(self.duration * 1000, 3),
            "user_agent": _header(scope, b"user-agent"),
            "referer": _header(scope, b"referer"),
            "repository": record.repository,
        }

    def __str__(self) -> str:
        scope, record = self.scope, self.record
        client = scope.get("client")
        user = record.user.replace(" ", "%20") if record.user else "-"
        request = f"{scope['method']} {logged_path(scope)} HTTP/{scope.get('http_version', '1.1')}"
        return (
            f"{client[0] if client else '-'} - {user} [{_clf_time(int(self.when))}] "
            f"{_quoted(request)} {record.status} {record.bytes_out or '-'} "
            f"{_quoted(_header(scope, b'referer'))} {_quoted(_header(scope, b'user-agent'))} "
            f"request_id={record.id} repository={record.repository or '-'} "
            f"bytes_in={record.bytes_in} duration_ms={self.duration * 1000:.3f}"
        )


def _log_access(scope: Scope, record: RequestRecord, elapsed: float) -> None:
    if access_logger.isEnabledFor(logging.INFO):
        access_logger.info(AccessEntry(scope, record, elapsed))
