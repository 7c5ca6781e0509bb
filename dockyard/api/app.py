"""Assembles the ASGI application that serves the distribution API.

``RegistryApp`` takes every ``/v2/`` path itself: it parses it (``routes``), picks the
handler for the endpoint and method, asks the authorizer for the access the request
needs, enforces read-only mode, and turns every error into OCI JSON. Everything
else (the token server's endpoints, the web interface, unknown paths, lifespan) goes to
a Starlette app;
keeping Starlette's router and middleware stack off the API path saves a good part of
the cost of a small request such as a manifest GET.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Final, cast

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.api import base, blobs, catalog, manifests, referrers, repositories, tags, uploads
from dockyard.api.access_log import (
    ID_HEADER_SCOPE_KEY,
    RequestLog,
    current_request,
    logged_path,
    tagging,
)
from dockyard.api.context import RequestContext, Services
from dockyard.api.errors import MethodUnsupported, error_response, internal_error, json_error
from dockyard.api.responses import API_VERSION, PreparedResponse
from dockyard.api.routes import Endpoint, NameValidator, parse
from dockyard.api.settings import ApiSettings
from dockyard.api.upload_state import UploadStateCodec
from dockyard.auth.base import Access, Authorizer
from dockyard.errors import DockyardError, ReadOnly, StorageUnavailable
from dockyard.reference import is_valid_name
from dockyard.storage.driver.base import (
    InvalidOffset,
    InvalidPath,
    PathNotFound,
    StorageDriverError,
)
from dockyard.storage.protocols import Registry

Handler = Callable[[RequestContext], Awaitable[Response]]

#: endpoint → method → handler. HEAD falls back to GET (without the body) where absent.
HANDLERS: Final[Mapping[Endpoint, Mapping[str, Handler]]] = {
    Endpoint.BASE: {"GET": base.get},
    Endpoint.CATALOG: {"GET": catalog.get},
    Endpoint.BLOB: {"GET": blobs.get, "HEAD": blobs.head, "DELETE": blobs.delete},
    Endpoint.MANIFEST: {
        "GET": manifests.get,
        "HEAD": manifests.head,
        "PUT": manifests.put,
        "DELETE": manifests.delete,
    },
    Endpoint.TAGS: {"GET": tags.get},
    Endpoint.REFERRERS: {"GET": referrers.get},
    Endpoint.REPOSITORY: {"DELETE": repositories.delete},
    # Uploads: ``.../blobs/uploads/`` opens sessions; ``.../blobs/uploads/<id>`` is one.
    Endpoint.UPLOAD: {"POST": uploads.post},
}
_UPLOAD_SESSION: Final[Mapping[str, Handler]] = {
    "GET": uploads.get,
    "PATCH": uploads.patch,
    "PUT": uploads.put,
    "DELETE": uploads.delete,
}
_WRITES: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CATALOG_ACCESS: Final = [Access("registry", "catalog", ("*",))]
_PULL: Final[tuple[str, ...]] = ("pull",)
_PUSH: Final[tuple[str, ...]] = ("push", "pull")
_DELETE: Final[tuple[str, ...]] = ("delete",)

logger = logging.getLogger("dockyard.api")


def _access(endpoint: Endpoint, name: str, method: str) -> list[Access]:
    """The access a request needs, in token-spec scopes."""
    if endpoint is Endpoint.BASE:
        return []
    if endpoint is Endpoint.CATALOG:
        return _CATALOG_ACCESS
    if endpoint is Endpoint.UPLOAD or method in ("POST", "PUT", "PATCH"):
        actions = _PUSH
    elif method == "DELETE":
        actions = _DELETE
    else:
        actions = _PULL
    return [Access("repository", name, actions)]


def _optional_access(endpoint: Endpoint, method: str, ctx: RequestContext) -> tuple[Access, ...]:
    """Access a request can use but does not need: the source of a cross-repository mount.

    Naming it lets a token challenge ask for it, so clients that only follow challenges
    get a mount (201) rather than a fresh upload session (202).
    """
    if endpoint is Endpoint.UPLOAD and method == "POST":
        source = ctx.query("from")
        if source and ctx.query("mount") and is_valid_name(source):
            return (Access("repository", source, _PULL),)
    return ()


#: Responses that only send a start and a body (no file, stream or background task), so
#: the dispatcher sends them itself.
_PLAIN_RESPONSES: Final = frozenset({Response, PreparedResponse})
_UPLOAD: Final = Endpoint.UPLOAD


async def _send_guarded(response: Response, scope: Scope, receive: Receive, send: Send) -> None:
    """Send a response that reads files or streams: a failure before its first byte
    becomes a 500 in OCI JSON, as for any other request."""
    started = False

    async def tracking_send(message: Message) -> None:
        nonlocal started
        started = True
        await send(message)

    try:
        await response(scope, receive, tracking_send)
    except Exception as exc:
        if started:
            raise
        error = _unexpected(exc, scope, None)
        error.raw_headers.append(API_VERSION)
        await error(scope, receive, send)


class RegistryApp:
    """The whole application: ``/v2/`` paths are the API, anything else goes to ``fallback``.

    For the API this is routing, access, read-only mode, errors and sending, all in this
    one coroutine, because on a small request every nested coroutine costs as much as a
    step of the work itself. It works on the
    ASGI scope and messages directly: no Starlette ``Request`` unless a handler wants
    one, and responses whose ``__call__`` would only send their start and body are sent
    here as two messages. For the same reason it adds the request id header itself when
    ``RequestLog`` hands it one (``sends_request_id``).
    """

    #: Adds the id header ``RequestLog`` puts in the scope to every response it sends.
    sends_request_id = True

    def __init__(self, services: Services, fallback: ASGIApp, reserved: frozenset[str]) -> None:
        self.services = services
        self.fallback = fallback
        #: Paths of routes that ``fallback`` serves even below ``/v2`` (auth endpoints).
        self.reserved = reserved
        #: Repository names this application has found valid (bounded).
        self.names = NameValidator()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.fallback(scope, receive, send)
            return
        id_header: tuple[bytes, bytes] | None = scope.get(ID_HEADER_SCOPE_KEY)
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if not (path == "/v2" or path.startswith("/v2/")) or path in self.reserved:
            await self.fallback(
                scope, receive, send if id_header is None else tagging(send, id_header)
            )
            return
        method: str = scope["method"]
        record = current_request.get()
        name = ""
        try:
            endpoint, name, arg = parse(path, scope.get("raw_path"), self.names)
            if record is not None:
                record.repository = name or None
            handlers = _UPLOAD_SESSION if endpoint is _UPLOAD and arg else HANDLERS[endpoint]
            handler = handlers.get(method)
            if handler is None:
                if method == "HEAD" and "GET" in handlers:
                    handler = handlers["GET"]
                else:
                    allowed = [*handlers, *(["HEAD"] if "GET" in handlers else [])]
                    raise MethodUnsupported(method, sorted(set(allowed)))
            services = self.services
            ctx = RequestContext(scope, receive, services, name, arg)
            if services.authorizer is not None:
                access = _access(endpoint, name, method)
                optional = _optional_access(endpoint, method, ctx)
                principal = await services.authorizer.authorize(ctx.auth_request(optional), access)
                if record is not None:
                    record.user = principal.username
            if method in _WRITES and services.settings.read_only:
                raise ReadOnly("the registry is in read-only mode: pushes and deletes are refused")
            response = await handler(ctx)
        except StorageDriverError as exc:
            response = storage_failure(exc, scope, name)
        except DockyardError as exc:
            response = error_response(exc)
        except Exception as exc:
            response = _unexpected(exc, scope, name)
        headers = response.raw_headers
        headers.append(API_VERSION)
        if type(response) in _PLAIN_RESPONSES and response.background is None:
            if id_header is not None:
                headers.append(id_header)
            # HEAD answers like GET without the body (Content-Length stays the GET's).
            await send(
                {"type": "http.response.start", "status": response.status_code, "headers": headers}
            )
            await send(
                {"type": "http.response.body", "body": b"" if method == "HEAD" else response.body}
            )
        else:
            if id_header is not None:
                send = tagging(send, id_header)
            await _send_guarded(response, scope, receive, send)


#: OS errors of a storage operation that a later retry can succeed after (the storage
#: was remounted, filled up, or lost its connection): 503 ``UNAVAILABLE``.
_TRANSIENT: Final = frozenset(
    getattr(errno, name)
    for name in (
        "EROFS",
        "ENOSPC",
        "EDQUOT",
        "EIO",
        "EAGAIN",
        "EBUSY",
        "ETIMEDOUT",
        "EMFILE",
        "ENFILE",
        "ENOMEM",
        "ESTALE",
        "EINTR",
        "EACCES",
        "EPERM",
        "ENOTCONN",
        "EHOSTDOWN",
    )
    if hasattr(errno, name)
)


_DRIVER_BUGS: Final = (PathNotFound, InvalidPath, InvalidOffset)


def _unexpected(exc: Exception, scope: Scope, name: str | None) -> Response:
    """The response for an error no handler expected: a storage failure, or a 500."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return storage_failure(exc, scope, name)
    logger.error(
        "unexpected error: %s %s repository=%s",
        scope["method"],
        logged_path(scope),
        name or "-",
        exc_info=exc,
    )
    return json_error("UNKNOWN", "internal server error", 500)


def storage_failure(exc: OSError | StorageDriverError, scope: Scope, name: str | None) -> Response:
    """The response for a storage operation that failed, logged once with its request.

    The log line says which request (method, path, repository) and why (the OS's or the
    object store's reason); the client learns neither paths nor reasons.
    """
    if isinstance(exc, OSError):
        code = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        reason = f"{exc.strerror or type(exc).__name__} ({code})"
        transient = exc.errno in _TRANSIENT
    else:
        # The object store failed (its messages are safe to log); a bug below the stores
        # (a path error escaping them) is not something a retry helps with.
        reason, transient = exc.message, not isinstance(exc, _DRIVER_BUGS)
    logger.error(
        "storage operation failed: %s %s repository=%s: %s",
        scope["method"],
        logged_path(scope),
        name or "-",
        reason,
    )
    if transient:
        return error_response(StorageUnavailable("storage is unavailable; retry later"))
    return json_error("UNKNOWN", "internal server error", 500)


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    response = json_error("NOT_FOUND" if status == 404 else "UNSUPPORTED", "not found", status)
    response.raw_headers.append(API_VERSION)
    return response


async def _server_error(request: Request, exc: Exception) -> Response:
    response = internal_error(exc)
    response.raw_headers.append(API_VERSION)
    return response


def create_app(
    registry: Registry,
    settings: ApiSettings,
    authorizer: Authorizer | None = None,
    extra_routes: Sequence[BaseRoute] = (),
) -> ASGIApp:
    """The registry's ASGI application over ``registry``'s services.

    ``extra_routes`` (the web interface) are served outside ``/v2``, where the API's
    requests never reach them.
    """
    services = Services(
        registry=registry,
        settings=settings,
        authorizer=authorizer,
        codec=UploadStateCodec(settings.secret, settings.upload_state_ttl),
        host=settings.host.rstrip("/") if settings.host else None,
    )
    routes: list[BaseRoute] = []
    if authorizer is not None:
        routes.extend(cast(list[BaseRoute], authorizer.routes()))
    reserved = frozenset(
        path for route in routes if isinstance(path := getattr(route, "path", None), str)
    )
    routes.extend(extra_routes)
    fallback = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _not_found, Exception: _server_error},
    )
    return RequestLog(RegistryApp(services, fallback, reserved), enabled=settings.access_log)
