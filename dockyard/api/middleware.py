"""ASGI middleware for deployment options: ``http.headers``, ``http.prefix``,
``http.relativeurls``. Each wraps the app only when its option is set."""

from __future__ import annotations

import re
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.api.errors import RouteUnknown, error_response
from dockyard.api.responses import API_VERSION

_URL_HEADERS: Final = (b"location", b"link")


class HeadersMiddleware:
    """Adds ``http.headers`` to every response, as the reference does."""

    def __init__(self, app: ASGIApp, headers: dict[str, tuple[str, ...]]) -> None:
        self.app = app
        self.headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, values in headers.items()
            for value in values
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in self.headers if n not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class PrefixMiddleware:
    """Serves the app below ``http.prefix`` (``/my/registry/v2/…``); 404 elsewhere.

    The prefix becomes the ASGI ``root_path``, and the URLs the app hands out in
    ``Location`` and ``Link`` headers get it too, so clients stay below the prefix.
    """

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix
        self._api_url = re.compile(rb"(^|<)((?:https?://[^/<>]+)?)(/v2(?:[/?>]|$))")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path != self.prefix and not path.startswith(self.prefix + "/"):
            response = error_response(RouteUnknown("not found"))
            response.raw_headers.append(API_VERSION)
            await response(scope, receive, send)
            return
        scope = dict(scope)
        scope["root_path"] = scope.get("root_path", "") + self.prefix

        async def send_prefixed(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (name, self._prefixed(value) if name.lower() in _URL_HEADERS else value)
                    for name, value in message.get("headers", [])
                ]
            await send(message)

        await self.app(scope, receive, send_prefixed)

    def _prefixed(self, value: bytes) -> bytes:
        prefix = self.prefix.encode("latin-1")
        return self._api_url.sub(lambda m: m[1] + m[2] + prefix + m[3], value)


class RelativeUrlsMiddleware:
    """``http.relativeurls``: ``Location`` and ``Link`` URLs without scheme and host."""

    _ABSOLUTE: Final = re.compile(rb"(^|<)https?://[^/<>]+(?=/)")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_relative(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (name, self._ABSOLUTE.sub(rb"\1", value))
                    if name.lower() in _URL_HEADERS
                    else (name, value)
                    for name, value in message.get("headers", [])
                ]
            await send(message)

        await self.app(scope, receive, send_relative)
