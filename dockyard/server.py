"""``dockyard serve``: assemble the registry from its configuration and run it in granian.

The main process loads and validates the configuration. With one worker (the default)
it then serves itself, granian embedded in its event loop; with several, granian
starts worker processes under a supervisor. Each worker builds its own app (driver,
stores, HTTP layer) from the same configuration through ``worker_app``. A secret
generated because ``http.secret`` was unset is handed to the workers through the
environment, so every worker of one ``dockyard serve`` accepts the others' upload
sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import gc
import json
import logging
import logging.config
import os
import random
import re
import socket
import tempfile
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from dockyard.config import DEFAULT_DATA_DIR, Config, ConfigError, load

if TYPE_CHECKING:
    # A supervising main process imports none of the app (HTTP layer, stores, auth,
    # cache clients), which keeps it small. Each worker imports what its configuration
    # needs, in the functions below.
    from starlette.routing import BaseRoute

    from dockyard.api.settings import ApiSettings
    from dockyard.auth.base import Authorizer
    from dockyard.storage.driver.base import StorageDriver
    from dockyard.storage.registry import StorageRegistry

logger = logging.getLogger("dockyard.server")

#: Tells a worker process where the configuration came from ("" for none).
CONFIG_ENV: Final = "_DOCKYARD_SERVE_CONFIG"
#: Worker processes when ``http.workers`` is unset. One, measured on the 2-core machine
#: dockyard is tuned for, where the client shares the cores: one worker answers small
#: requests at several times the reference registry's rate, and it runs in the
#: ``dockyard serve`` process itself (about 45 MiB, as much as the reference). Several
#: workers need granian's supervisor process (about 35 MiB) plus about 40 MiB each; they
#: raise throughput under high concurrency when spare cores exist.
DEFAULT_WORKERS: Final = 1

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# --- assembling the app -------------------------------------------------------------------


def api_settings(config: Config) -> ApiSettings:
    """The HTTP layer's settings, taken from the configuration."""
    from dockyard.api.settings import ApiSettings

    settings = ApiSettings(
        secret=config.http.secret.encode(),
        host=config.http.host,
        delete_enabled=config.storage.delete_enabled,
        read_only=config.storage.readonly,
        redirect_enabled=not config.storage.redirect_disabled,
    )
    purging = config.storage.uploadpurging
    if purging.enabled:
        # A session outlives neither its purge nor the signed state in its Location.
        settings = dataclasses.replace(settings, upload_state_ttl=purging.age)
    return settings


def build_driver(config: Config) -> StorageDriver:
    """The storage driver ``storage.<driver>`` names, with its parameters."""
    from dockyard.storage.driver import create_driver

    return create_driver(config.storage.driver, dict(config.storage.parameters))


def build_registry(config: Config, driver: StorageDriver) -> StorageRegistry:
    """The registry services over ``driver``, with the configured descriptor cache."""
    from dockyard.storage.cache import from_config as cache_from_config
    from dockyard.storage.registry import StorageRegistry

    return StorageRegistry(driver, blob_descriptor_cache=cache_from_config(config))


def build_authorizer(config: Config) -> Authorizer | None:
    """The access control ``auth`` configures, or None when it configures none."""
    if not config.auth:
        return None
    from dockyard.auth import from_config as auth_from_config

    return auth_from_config(config.auth, data_dir=data_dir(config))


def data_dir(config: Config) -> Path:
    """Where dockyard keeps its own local state (the token server's keys): the
    filesystem driver's root, else ``./.data``."""
    root = config.storage.parameters.get("rootdirectory")
    if config.storage.driver == "filesystem" and isinstance(root, str):
        return Path(root)
    return Path.cwd() / DEFAULT_DATA_DIR


def build_app(config: Config) -> ASGIApp:
    """The complete ASGI application for ``config``, with its maintenance tasks."""
    from dockyard.api.app import create_app

    driver = build_driver(config)
    registry = build_registry(config, driver)
    authorizer = build_authorizer(config)
    ui = web_interface_routes(config, registry, authorizer) if config.ui.enabled else []
    app: ASGIApp = create_app(registry, api_settings(config), authorizer, ui)
    if config.http.headers:
        app = HeadersMiddleware(app, config.http.headers)
    if config.http.relativeurls:
        app = RelativeUrlsMiddleware(app)
    if config.http.prefix:
        app = PrefixMiddleware(app, config.http.prefix)
    return Lifecycle(app, config, registry, driver)


def web_interface_routes(
    config: Config, registry: StorageRegistry, authorizer: Authorizer | None
) -> list[BaseRoute]:
    """The routes of the web interface (``ui``), served next to the API."""
    from dockyard.ui import UISettings, access_policy, ui_routes

    settings = UISettings(
        path=config.ui.path,
        secret=config.http.secret.encode(),
        host=config.http.host,
        delete_enabled=config.storage.delete_enabled,
        read_only=config.storage.readonly,
    )
    return ui_routes(registry, access_policy(authorizer), settings)


# --- ASGI wrappers ------------------------------------------------------------------------


class Lifecycle:
    """Runs the app's background maintenance while it serves, and releases the driver."""

    def __init__(
        self, app: ASGIApp, config: Config, registry: StorageRegistry, driver: StorageDriver
    ) -> None:
        self.app = app
        self.config = config
        self.registry = registry
        self.driver = driver
        self._tasks: list[asyncio.Task[None]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def lifespan_send(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                self.start()
            elif message["type"] == "lifespan.shutdown.complete":
                await self.stop()
            await send(message)

        await self.app(scope, receive, lifespan_send)

    def start(self) -> None:
        purging = self.config.storage.uploadpurging
        if purging.enabled and not self.config.storage.readonly:
            self._tasks.append(asyncio.create_task(self._purge_uploads()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.driver.close()
        # The blob-descriptor cache holds connections (Redis) to release as well.
        close_cache = getattr(self.registry.blob_store.cache, "close", None)
        if close_cache is not None:
            await close_cache()

    async def _purge_uploads(self) -> None:
        """Remove abandoned upload sessions every ``interval``, as the reference does.

        The first run waits a random part of the interval (at most an hour), so workers
        and instances started together do not purge in lockstep.
        """
        purging = self.config.storage.uploadpurging
        interval = purging.interval.total_seconds()
        await asyncio.sleep(random.uniform(0, min(interval, 3600.0)))
        while True:
            try:
                if purging.dryrun:
                    logger.info(
                        "upload purging (dry run): would purge uploads older than %s", purging.age
                    )
                else:
                    removed = await self.registry.purge_uploads(purging.age)
                    logger.info("upload purging: removed %d abandoned upload(s)", removed)
            except Exception:
                logger.exception("upload purging failed; retrying at the next interval")
            await asyncio.sleep(interval)


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
            await _not_found(send)
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


_URL_HEADERS: Final = (b"location", b"link")


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


async def _not_found(send: Send) -> None:
    body = b'{"errors":[{"code":"UNSUPPORTED","message":"not found","detail":null}]}'
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# --- the worker side ----------------------------------------------------------------------


def worker_app() -> ASGIApp:
    """The app of one granian worker (granian calls this factory in every worker)."""
    _unmap_large_buffers_when_freed()
    source = os.environ.get(CONFIG_ENV, "")
    config = load(source or None)
    app = build_app(config)
    # Everything built so far lives as long as the worker: keep it out of the collector's
    # scans, which would otherwise walk it on every full collection (a latency spike).
    gc.freeze()
    return app


#: glibc's ``mallopt`` parameter for the size from which allocations are mmapped.
_M_MMAP_THRESHOLD: Final = -3
#: Buffers from this size on get pages of their own, returned to the system when freed.
_MMAP_THRESHOLD_BYTES: Final = 4 << 20


def _unmap_large_buffers_when_freed() -> None:
    """Keep a worker's memory near its live data on glibc, without faulting in every body.

    glibc mmaps large buffers at first, but after the first one is freed it raises its
    threshold (up to 32 MiB), and from then on they come from the heap, whose freed pages
    stay resident: a worker that served a few large uploads kept some 30 MiB it no longer
    used. A fixed threshold keeps buffers from 4 MiB on mmapped, so freeing them gives the
    memory back. It is not lower because the pieces of a request body (a few hundred KiB
    each, hundreds per large upload) must come from the heap, where freed pieces are
    reused: mmapped afresh, each page of each piece was faulted in and zeroed, a tenth of
    an upload's CPU (measured with perf: monolithic 256 MiB uploads ~370 -> ~440 MB/s,
    the same peak RSS).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return  # not glibc: nothing to tune
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)


# --- the main process ---------------------------------------------------------------------


def worker_count(config: Config) -> int:
    """Worker processes to run: ``http.workers``, else ``DEFAULT_WORKERS``."""
    if config.storage.driver == "inmemory":
        if config.http.workers not in (None, 1):
            raise ConfigError(
                "http.workers: the inmemory driver keeps content inside one process; use 1"
            )
        return 1
    if config.http.workers is not None:
        return config.http.workers
    return DEFAULT_WORKERS


def logging_config(config: Config) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for granian and dockyard: events to stderr, access
    log to stdout (as the reference), at ``log.level`` in ``log.formatter``."""
    level = logging.getLevelName(config.log.python_level)
    structured = config.log.formatter in ("json", "logstash")
    formatter = (
        {"()": "dockyard.server.JsonFormatter", "fields": config.log.fields}
        if structured
        else {
            "()": "logging.Formatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s: %(message)s",
        }
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "generic": formatter,
            "access": {"()": "dockyard.server.AccessFormatter", "structured": structured},
        },
        "handlers": {
            "console": {
                "formatter": "generic",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
            },
            "access": {
                "formatter": "access",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
            },
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "_granian": {"handlers": ["console"], "level": level, "propagate": False},
            "granian.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per log line, with ``log.fields`` added to each."""

    def __init__(self, fields: dict[str, str] | None = None) -> None:
        super().__init__()
        self.fields = fields or {}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **self.fields,
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


#: granian's access log fields, in the spirit of the Combined Log Format.
ACCESS_LOG_FORMAT: Final = (
    '%(addr)s - - [%(time)s] "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).3fms'
)


class AccessFormatter(logging.Formatter):
    """Formats granian's access records, with the query string in the request line."""

    def __init__(self, structured: bool = False) -> None:
        super().__init__()
        self.structured = structured

    def format(self, record: logging.LogRecord) -> str:
        args = record.args
        if isinstance(args, dict):
            entry = dict(args)
            if entry.get("query_string"):
                entry["path"] = f"{entry['path']}?{entry['query_string']}"
            if self.structured:
                return json.dumps({"access": True, **entry})
            return ACCESS_LOG_FORMAT % entry
        return super().format(record)


def _tls_options(config: Config, workdir: Path) -> dict[str, Any]:
    from granian.constants import SSLProtocols

    tls = config.http.tls
    if tls is None:
        return {}
    if tls.minimumtls in ("tls1.0", "tls1.1"):
        logger.warning("http.tls.minimumtls: %s is not offered; using tls1.2", tls.minimumtls)
    options: dict[str, Any] = {
        "ssl_cert": Path(tls.certificate),
        "ssl_key": Path(tls.key),
        "ssl_protocol_min": SSLProtocols.tls13
        if tls.minimumtls == "tls1.3"
        else SSLProtocols.tls12,
    }
    if tls.clientcas:
        # granian takes one CA file; the configuration may list several.
        bundle = workdir / "clientcas.pem"
        bundle.write_bytes(b"\n".join(Path(ca).read_bytes() for ca in tls.clientcas))
        options["ssl_ca"] = bundle
        options["ssl_client_verify"] = True
    return options


def _listen_options(config: Config) -> dict[str, Any]:
    if config.http.net == "unix":
        return {"uds": Path(config.http.addr)}
    host, port = config.http.bind
    try:
        family, _, _, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except OSError:
        raise ConfigError(f"http.addr: cannot resolve host {host!r}") from None
    _check_bindable(family, sockaddr, config.http.addr)
    return {"address": str(sockaddr[0]), "port": port}


def _check_bindable(family: int, sockaddr: Any, addr: str) -> None:
    """Fail with the key named, not a traceback from the server, if nobody may listen there."""
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(sockaddr)
        except OSError as error:
            raise ConfigError(f"http.addr: cannot listen on {addr} ({error.strerror})") from None


def serve(config: Config, source: str | None) -> None:
    """Run the registry until SIGINT or SIGTERM, then drain and stop.

    ``source`` is the configuration file, re-read by every worker. One worker runs in
    this process (granian embedded in its event loop); several run as granian's worker
    processes under a supervisor, which costs a process of its own (about 35 MiB).
    """
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels

    workers = worker_count(config)
    os.environ[CONFIG_ENV] = source or ""
    if config.http.secret_generated:
        # Every worker must sign and check upload state with the same secret.
        os.environ["REGISTRY_HTTP_SECRET"] = config.http.secret
    drain = config.http.draintimeout
    with tempfile.TemporaryDirectory(prefix="dockyard-") as workdir:
        options: dict[str, Any] = {
            "factory": True,
            "interface": Interfaces.ASGI,
            "http": HTTPModes.http1,
            "websockets": False,
            "log_level": LogLevels(_granian_level(config)),
            "log_dictconfig": logging_config(config),
            "log_access": not config.log.accesslog_disabled,
            "log_access_format": ACCESS_LOG_FORMAT,
            **_listen_options(config),
            **_tls_options(config, Path(workdir)),
        }
        kill_timeout = max(1, int(drain.total_seconds())) if drain else 30
        # granian applies it too, but only once its server exists: this line comes first.
        logging.config.dictConfig(options["log_dictconfig"])
        logger.info(
            "dockyard serving %s storage on %s with %d worker(s)",
            config.storage.driver,
            config.http.addr,
            workers,
        )
        if workers == 1:
            _serve_in_process(options, kill_timeout)
        else:
            from granian.constants import Loops
            from granian.server import Server

            Server(
                "dockyard.server:worker_app",
                workers=workers,
                loop=Loops.uvloop,
                workers_kill_timeout=kill_timeout,
                **options,
            ).serve()


def _serve_in_process(options: dict[str, Any], kill_timeout: int) -> None:
    """Serve with granian embedded in this process's (uvloop) event loop."""
    import signal

    import uvloop
    from granian.server.embed import Server as EmbeddedServer

    # granian announces its embedded mode as experimental on every start; dockyard's
    # tests run the whole suite through it, so the warning only alarms operators.
    logging.getLogger("_granian").addFilter(_EmbeddedNotice())

    async def run() -> None:
        server = EmbeddedServer(worker_app, **options)
        server.workers_kill_timeout = kill_timeout
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, server.stop)
        await server.serve()

    uvloop.run(run())


class _EmbeddedNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Embedded server is experimental" not in record.getMessage()


def _granian_level(config: Config) -> str:
    return {"warn": "warning", "trace": "debug", "fatal": "critical", "panic": "critical"}.get(
        config.log.level, config.log.level
    )
