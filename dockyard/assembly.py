"""Assembly: the one place that builds dockyard's objects from its configuration.

``assemble`` builds the storage driver, the blob descriptor cache, the registry services
and the authorizer; ``build_app`` adds the HTTP layer on top. ``dockyard serve`` (in each
worker), ``dockyard gc`` and ``dockyard config check`` all build through here, so what
``config check`` accepts is exactly what ``serve`` starts with. Heavy modules (the HTTP
layer, S3, Redis, auth) are imported inside the functions: a supervising main process
that only checks the configuration stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.config import DEFAULT_DATA_DIR, Config, ConfigError
from dockyard.errors import DockyardError

if TYPE_CHECKING:
    from starlette.routing import BaseRoute
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from dockyard.api.settings import ApiSettings
    from dockyard.auth.base import Authorizer
    from dockyard.observability.assembly import Operations
    from dockyard.proxy.registry import ProxyRegistry
    from dockyard.storage.cache.base import BlobDescriptorCache
    from dockyard.storage.driver.base import StorageDriver
    from dockyard.storage.protocols import Registry
    from dockyard.storage.registry import StorageRegistry

logger = logging.getLogger("dockyard.assembly")


@dataclass(frozen=True, slots=True)
class Assembly:
    """What one process serves from: the registry over its driver, and access control."""

    config: Config
    driver: StorageDriver
    cache: BlobDescriptorCache | None
    registry: StorageRegistry
    authorizer: Authorizer | None
    #: The pull-through cache decorating ``registry``, when ``proxy`` is configured.
    proxy: ProxyRegistry | None = None

    @property
    def services(self) -> Registry:
        """What requests are served from: the registry, through the proxy if there is one."""
        return self.proxy if self.proxy is not None else self.registry

    async def close(self) -> None:
        """Release the upstream, driver and cache connections."""
        try:
            if self.proxy is not None:
                await self.proxy.close()
        finally:
            await self.registry.close()


def assemble(config: Config, ops: Operations | None = None) -> Assembly:
    """Build the driver, cache, registry and authorizer ``config`` describes.

    ``ops``, when serving, wraps the driver and the cache in their metrics and tracing
    decorators, so that every storage call is measured.

    Raises ``ConfigError`` (or the auth package's ``AuthConfigError``) naming the key
    when something configured cannot be built.
    """
    from dockyard.gc.cache import sweep_aware
    from dockyard.manifest import policy
    from dockyard.storage.registry import StorageRegistry

    if config.redis is not None:
        # Everything Redis serves (cache, leases, probes) needs the client: say so first.
        from dockyard.extras import require

        require("redis", "the redis section")
    driver = build_driver(config)
    cache = build_cache(config)
    cache = sweep_aware(cache, driver)
    if ops is not None:
        driver = ops.driver(driver)
        cache = ops.cache(cache)
    registry = StorageRegistry(
        driver,
        blob_descriptor_cache=cache,
        manifest_policy=policy.from_config(config.validation),
    )
    proxy = build_proxy(config, registry, driver)
    return Assembly(config, driver, cache, registry, build_authorizer(config), proxy)


def build_proxy(
    config: Config, registry: StorageRegistry, driver: StorageDriver
) -> ProxyRegistry | None:
    """The pull-through cache ``proxy`` configures, decorating every repository it serves."""
    if config.proxy is None:
        return None
    from dockyard.proxy.assemble import proxy_registry

    return proxy_registry(config, registry, driver)


def build_driver(config: Config) -> StorageDriver:
    """The storage driver ``storage.<driver>`` names, with its parameters."""
    from dockyard.storage.driver import create_driver

    storage = config.storage
    if storage.driver == "filesystem":
        _check_root(config)
    try:
        return create_driver(storage.params)
    except DockyardError as error:
        message = error.message
        if not message.startswith(f"storage.{storage.driver}"):
            message = f"storage.{storage.driver}: {message}"
        raise ConfigError(message) from None


def build_cache(config: Config) -> BlobDescriptorCache | None:
    """The blob descriptor cache ``storage.cache.blobdescriptor`` asks for, if any."""
    settings = config.storage.cache
    if settings.blobdescriptor == "redis":
        if config.redis is None:
            raise ConfigError("storage.cache.blobdescriptor: redis needs a redis.addr")
        # Imported here so that a registry without Redis never loads the client.
        from dockyard.storage.cache.redis import RedisBlobDescriptorCache

        return RedisBlobDescriptorCache.from_config(config.redis)
    if settings.blobdescriptor == "inmemory":
        from dockyard.storage.cache.memory import MemoryBlobDescriptorCache

        return MemoryBlobDescriptorCache(settings.blobdescriptorsize, settings.blobdescriptorbytes)
    return None


def build_authorizer(config: Config) -> Authorizer | None:
    """The access control ``auth`` configures, or None when it configures none."""
    if not config.auth.enabled:
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


def api_settings(config: Config) -> ApiSettings:
    """The HTTP layer's settings, taken from the configuration."""
    from dockyard.api.settings import ApiSettings

    settings = ApiSettings(
        secret=config.http.secret.encode(),
        host=config.http.host,
        delete_enabled=config.storage.delete_enabled,
        read_only=config.storage.readonly,
        redirect_enabled=not config.storage.redirect_disabled,
        access_log=not config.log.accesslog_disabled,
        catalog_max_entries=config.catalog_maxentries,
        chunk_min_length=config.http.chunkminlength,
    )
    purging = config.storage.uploadpurging
    if purging.enabled:
        # A session outlives neither its purge nor the signed state in its Location.
        settings = dataclasses.replace(settings, upload_state_ttl=purging.age)
    return settings


def build_app(config: Config) -> ASGIApp:
    """The complete ASGI application for ``config``, with its maintenance tasks."""
    from dockyard.api.app import create_app
    from dockyard.api.middleware import HeadersMiddleware, PrefixMiddleware, RelativeUrlsMiddleware
    from dockyard.observability.assembly import Operations

    ops = Operations(config)
    assembly = assemble(config, ops)
    # The interface reads the stores undecorated: browsing is not a pull to notify.
    ui = web_interface_routes(config, assembly) if config.ui.enabled else []
    app: ASGIApp = create_app(
        ops.registry(assembly.services),
        api_settings(config),
        ops.authorizer(assembly.authorizer),
        ui,
    )
    app = ops.inner_app(app)
    if assembly.proxy is not None:
        from dockyard.proxy.namespaces import NamespaceMiddleware

        app = NamespaceMiddleware(app, assembly.proxy)
    if config.http.headers:
        app = HeadersMiddleware(app, config.http.headers)
    if config.http.relativeurls:
        app = RelativeUrlsMiddleware(app)
    if config.http.prefix:
        app = PrefixMiddleware(app, config.http.prefix)
    return Lifecycle(ops.outer_app(app), assembly, ops)


def web_interface_routes(config: Config, assembly: Assembly) -> list[BaseRoute]:
    """The routes of the web interface (``ui``), served next to the API."""
    from dockyard.ui import UISettings, access_policy, ui_routes

    settings = UISettings(
        path=config.ui.path,
        secret=config.http.secret.encode(),
        host=config.http.host,
        delete_enabled=config.storage.delete_enabled,
        read_only=config.storage.readonly,
    )
    return ui_routes(assembly.registry, access_policy(assembly.authorizer), settings)


class Lifecycle:
    """Runs the app's background maintenance while it serves, and closes the registry."""

    def __init__(self, app: ASGIApp, assembly: Assembly, ops: Operations | None = None) -> None:
        self.app = app
        self.assembly = assembly
        self.ops = ops
        self._tasks: list[asyncio.Task[None]] = []
        #: Served by exact path ahead of every layer of ``app`` (no credentials, no prefix).
        self.probes = ops.probes() if ops is not None else None
        self._probe_paths = self.probes.PATHS if self.probes is not None else frozenset()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            if (
                scope["type"] == "http"
                and scope["path"] in self._probe_paths
                and scope["method"] in ("GET", "HEAD")
                and self.probes is not None
            ):
                await self.probes(scope, receive, send)
                return
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
        storage = self.assembly.config.storage
        if storage.uploadpurging.enabled and not storage.readonly:
            self._tasks.append(asyncio.create_task(self._purge_uploads()))
        if storage.gc.enabled and not storage.readonly:
            from dockyard.gc.run import collect_periodically

            assembly = self.assembly
            collecting = collect_periodically(assembly.driver, assembly.cache, assembly.config)
            self._tasks.append(asyncio.create_task(collecting))
        if storage.scrub.enabled:
            from dockyard.scrub.scheduled import scrub_periodically

            self._tasks.append(
                asyncio.create_task(scrub_periodically(self.assembly.driver, self.assembly.config))
            )
        if self.assembly.proxy is not None and not storage.readonly:
            self._tasks.append(asyncio.create_task(self.assembly.proxy.expire_periodically()))
        if self.assembly.config.sync is not None and not storage.readonly:
            from dockyard.sync.schedule import sync_periodically

            self._tasks.append(asyncio.create_task(sync_periodically(self.assembly)))
        if self.ops is not None:
            self.ops.start()

    async def stop(self) -> None:
        if self.ops is not None:
            await self.ops.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.assembly.close()

    async def _purge_uploads(self) -> None:
        """Remove abandoned upload sessions every ``interval``, as the reference does.

        The first run waits a random part of the interval (at most an hour), so workers
        and instances started together do not purge in lockstep.
        """
        purging = self.assembly.config.storage.uploadpurging
        interval = purging.interval.total_seconds()
        await asyncio.sleep(random.uniform(0, min(interval, 3600.0)))
        while True:
            try:
                if purging.dryrun:
                    logger.info(
                        "upload purging (dry run): would purge uploads older than %s", purging.age
                    )
                else:
                    removed = await self.assembly.registry.purge_uploads(purging.age)
                    logger.info("upload purging: removed %d abandoned upload(s)", removed)
            except Exception:
                logger.exception("upload purging failed; retrying at the next interval")
            await asyncio.sleep(interval)


def check(config: Config) -> None:
    """Build everything ``serve`` would build at start-up, then release it.

    Raises ``ConfigError`` (or ``AuthConfigError``) naming the key of the first thing
    that would stop ``serve``.
    """
    assembly = assemble(config)
    asyncio.run(_check_storage(assembly, writable=not config.storage.readonly))


async def _check_storage(assembly: Assembly, *, writable: bool) -> None:
    """The backend is there (and writable): its error names the configuration key."""
    try:
        await assembly.driver.check(writable=writable)
    except DockyardError as error:
        raise ConfigError(error.message) from None
    finally:
        await assembly.close()


def _check_root(config: Config) -> None:
    """The filesystem root exists (created if need be) and is writable unless read-only."""
    root = Path(str(config.storage.parameters["rootdirectory"]))
    key = "storage.filesystem.rootdirectory"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"{key}: cannot create the directory ({error.strerror})") from None
    if not root.is_dir():
        raise ConfigError(f"{key}: not a directory")
    wanted = os.R_OK | os.X_OK | (0 if config.storage.readonly else os.W_OK)
    if not os.access(root, wanted):
        raise ConfigError(f"{key}: the directory is not accessible for reading and writing")


__all__: list[str] = [
    "Assembly",
    "Lifecycle",
    "api_settings",
    "assemble",
    "build_app",
    "build_authorizer",
    "build_cache",
    "build_driver",
    "build_proxy",
    "check",
    "data_dir",
]
