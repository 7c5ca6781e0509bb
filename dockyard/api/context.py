"""What a handler gets: the request, where it points, and the services it may use."""

from __future__ import annotations

import ipaddress
import re
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote

from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive, Scope

from dockyard.api.settings import ApiSettings
from dockyard.api.upload_state import UploadStateCodec
from dockyard.auth.base import Access, AccessDenied, AuthChallenge, Authorizer
from dockyard.auth.base import Request as AuthRequest
from dockyard.errors import BlobUploadInvalid, SizeInvalid
from dockyard.storage.protocols import Registry, Repository

_SAFE_PATH: Final = "/:@"
_SCHEMES: Final = frozenset({"http", "https"})
_HOST: Final = re.compile(
    r"(?:"
    r"(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*"
    r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?"  # a DNS name or IPv4 address
    r"|\[[0-9A-Fa-f:.]{2,45}\]"  # a bracketed IPv6 address
    r")(?::(\d{1,5}))?"
)


def _first(value: str | None) -> str:
    """The first of a header's comma-separated values, stripped ('' when absent)."""
    return value.split(",", 1)[0].strip() if value else ""


def is_valid_host(value: str) -> bool:
    """Whether ``value`` is a syntactically valid ``host[:port]`` (RFC 3986 authority,
    without user information)."""
    if not value or len(value) > 261:
        return False
    match = _HOST.fullmatch(value)
    if match is None:
        return False
    if value.startswith("["):
        try:
            ipaddress.IPv6Address(value[1 : value.index("]")])
        except ValueError:
            return False
    port = match.group(1)
    return port is None or 0 < int(port) < 65536


def _authority(host: str, port: int | None) -> str:
    """The server's own address (ASGI ``server``) as a URL authority."""
    bracketed = f"[{host}]" if ":" in host else host
    return bracketed if port is None else f"{bracketed}:{port}"


#: Repository objects kept per app; they hold no state beyond their name, so keeping
#: them only saves rebuilding their stores on every request.
_REPOSITORY_CACHE_SIZE: Final = 1024
#: The memory one kept repository holds at most (its objects, its name of up to 255
#: characters, its entry): 1024 of them hold at most 2.5 MiB.
REPOSITORY_ENTRY_BYTES: Final = 2560


@dataclass(slots=True)
class Services:
    """Everything that lives as long as the app: built once by ``create_app``."""

    registry: Registry
    settings: ApiSettings
    authorizer: Authorizer | None
    codec: UploadStateCodec
    #: ``settings.host`` without a trailing slash, when configured.
    host: str | None = field(default=None)
    _repositories: OrderedDict[str, Repository] = field(default_factory=OrderedDict)

    def repository(self, name: str) -> Repository:
        """The registry's repository ``name``, reused across requests (an LRU of
        ``_REPOSITORY_CACHE_SIZE`` entries of at most ``REPOSITORY_ENTRY_BYTES``)."""
        cache = self._repositories
        repository = cache.get(name)
        if repository is None:
            repository = self.registry.repository(name)
            cache[name] = repository
            if len(cache) > _REPOSITORY_CACHE_SIZE:
                cache.popitem(last=False)
        else:
            cache.move_to_end(name)
        return repository


class RequestContext:
    """One request being handled: the parsed path plus the app's services.

    Built on every API request, so it reads what the hot handlers need (method, headers)
    straight from the ASGI scope; the Starlette ``Request`` (query parameters, body
    stream, client address) is built only when a handler asks for it.
    """

    __slots__ = ("_repository", "_request", "arg", "name", "receive", "scope", "services")

    def __init__(
        self, scope: Scope, receive: Receive, services: Services, name: str, arg: str
    ) -> None:
        self.scope = scope
        self.receive = receive
        self.services = services
        self.name = name
        self.arg = arg
        self._request: Request | None = None
        self._repository: Repository | None = None

    @property
    def request(self) -> Request:
        """The request as Starlette models it (built on first use)."""
        if self._request is None:
            self._request = Request(self.scope, self.receive)
        return self._request

    @property
    def settings(self) -> ApiSettings:
        return self.services.settings

    @property
    def repository(self) -> Repository:
        """The repository the path names (already validated by the router)."""
        if self._repository is None:
            self._repository = self.services.repository(self.name)
        return self._repository

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    def query(self, key: str) -> str | None:
        return self.request.query_params.get(key)

    def header(self, key: str) -> str | None:
        """The first value of request header ``key`` (any case), or None."""
        value = self.raw_header(key.lower().encode("latin-1"))
        return None if value is None else value.decode("latin-1")

    def raw_header(self, name: bytes) -> bytes | None:
        """The first value of the header ``name`` (lower-case, as ASGI gives names), as
        sent; for the hot handlers, which compare bytes."""
        headers: list[tuple[bytes, bytes]] = self.scope["headers"]
        if type(headers) is not list:
            # ASGI allows any iterable; keep a list so that a second look (or a later
            # Starlette Request) can read it again.
            headers = self.scope["headers"] = list(headers)
        for key, value in headers:
            if key == name:
                return value
        return None

    # --- URLs -----------------------------------------------------------------------------

    def base_url(self) -> str:
        """Scheme and authority for absolute ``Location`` headers.

        ``http.host`` wins; behind a proxy, ``X-Forwarded-Proto``/``-Host`` say what the
        client used; otherwise the request's own scheme and ``Host``. Only the first
        value of each forwarded header counts, and only if it is well-formed: ``http`` or
        ``https``, and a ``host[:port]`` (a DNS name, an IPv4 address or a bracketed
        IPv6 address). Anything else is ignored, so a client cannot make the registry
        hand out a ``Location`` pointing at a scheme or host of its choosing.
        """
        if self.services.host is not None:
            return self.services.host
        scheme = str(self.scope.get("scheme", "http"))
        forwarded_proto = _first(self.header("x-forwarded-proto")).lower()
        if forwarded_proto in _SCHEMES:
            scheme = forwarded_proto
        host = _first(self.header("x-forwarded-host"))
        if not is_valid_host(host):
            host = (self.header("host") or "").strip()
        if not is_valid_host(host):
            server = self.scope.get("server")
            host = _authority(server[0], server[1]) if server else "localhost"
        return f"{scheme}://{host}"

    def url(self, path: str) -> str:
        """An absolute URL for an API path (already safe: names, digests and tags are)."""
        return self.base_url() + quote(path, safe=_SAFE_PATH)

    # --- access control -------------------------------------------------------------------

    def auth_request(self, optional: tuple[Access, ...] = ()) -> AuthRequest:
        client = self.request.client
        return AuthRequest(
            optional=optional,
            method=self.method,
            path=self.request.url.path,
            authorization=self.header("authorization"),
            remote_addr=client.host if client else None,
            headers=dict(self.request.headers),
        )

    async def may(self, access: Access) -> bool:
        """Whether the caller also holds ``access`` (used for the source of a mount)."""
        authorizer = self.services.authorizer
        if authorizer is None:
            return True
        try:
            await authorizer.authorize(self.auth_request(), [access])
        except (AuthChallenge, AccessDenied):
            return False
        return True

    # --- request bodies -------------------------------------------------------------------

    def body(self, limit: int | None = None) -> AsyncIterator[bytes]:
        """The request body as it arrives, never buffered whole.

        With ``limit``, more bytes than that raise ``SizeInvalid`` mid-stream.
        """
        return _body(self.request, limit)

    async def read_body(self, limit: int) -> bytes:
        """The whole body, refusing more than ``limit`` bytes (small documents only)."""
        return b"".join([chunk async for chunk in _body(self.request, limit)])


async def _body(request: Request, limit: int | None) -> AsyncIterator[bytes]:
    received = 0
    try:
        async for chunk in request.stream():
            if not chunk:
                continue
            received += len(chunk)
            if limit is not None and received > limit:
                raise SizeInvalid(f"request body is larger than {limit} bytes")
            yield chunk
    except ClientDisconnect:
        raise BlobUploadInvalid("the client disconnected before the body was complete") from None
