"""The ``ns`` query parameter: a client names the registry it wants mirrored.

containerd and other clients configured with a mirror add ``?ns=docker.io`` to their
requests. When an upstream lists that name in ``namespaces``, the request is served from
that upstream's repositories (its path prefix added) and the response says so in an
``OCI-Namespace`` header. An ``ns`` no upstream lists changes nothing.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from dockyard.proxy.registry import ProxyRegistry

_REPOSITORY_PATH: Final = re.compile(r"/v2/(.+)/(manifests|blobs|tags|referrers)/(.*)", re.S)


class NamespaceMiddleware:
    """Routes requests carrying a known ``ns`` to that upstream's repositories."""

    def __init__(self, app: ASGIApp, registry: ProxyRegistry) -> None:
        self.app = app
        self.prefixes = {
            namespace: client.config.prefix
            for client in registry.clients
            for namespace in client.config.namespaces
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query: bytes = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if not self.prefixes or b"ns=" not in query:
            await self.app(scope, receive, send)
            return
        namespaces = parse_qs(query.decode("latin-1")).get("ns", [])
        namespace = namespaces[0] if namespaces else ""
        prefix = self.prefixes.get(namespace)
        match = _REPOSITORY_PATH.fullmatch(scope["path"])
        if prefix is None or match is None:
            await self.app(scope, receive, send)
            return
        name, kind, rest = match.groups()
        if prefix and not name.startswith(prefix):
            path = f"/v2/{prefix}{name}/{kind}/{rest}"
            scope = {**scope, "path": path, "raw_path": path.encode()}
        header = (b"oci-namespace", namespace.encode("latin-1"))

        async def send_with_namespace(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        await self.app(scope, receive, send_with_namespace)
