"""What metrics, readiness, notifications and tracing add to one serving process.

``Operations`` is built from the configuration by ``dockyard.assembly.build_app``, which
hands it each piece to decorate (driver, cache, registry, authorizer, app) and starts and
stops it with the app. Every decorator is applied only when its feature is configured,
so a registry without them pays nothing on its hot path.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from starlette.types import ASGIApp

from dockyard.config import Config
from dockyard.observability import tracing
from dockyard.observability.health import HealthMonitor, publish
from dockyard.observability.metrics import METRICS_DIR_ENV, SnapshotWriter
from dockyard.observability.tasks import cancel_all

if TYPE_CHECKING:
    from dockyard.auth.base import Authorizer
    from dockyard.notifications.notifier import Journal
    from dockyard.observability.debug import DebugProcess, DebugServer, Probes
    from dockyard.storage.driver.base import StorageDriver
    from dockyard.storage.protocols import Registry

logger = logging.getLogger("dockyard.observability")

#: How often a worker shares its metrics with the debug listener (several workers only).
SNAPSHOT_SECONDS: Final = 1.0


def metrics_enabled(config: Config) -> bool:
    return config.http.debug is not None and config.http.debug.prometheus_enabled


class Operations:
    """The operational decorators and background tasks of one serving process."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.metrics = metrics_enabled(config)
        self.tracer = tracing.tracer()
        self.monitor: HealthMonitor | None = None
        self.journal: Journal | None = None
        folder = os.environ.get(METRICS_DIR_ENV)
        self.snapshots = SnapshotWriter(Path(folder), health=self._health) if folder else None
        self._tasks: list[asyncio.Task[None]] = []

    def _health(self) -> dict[str, str]:
        return self.monitor.status() if self.monitor is not None else {}

    # --- decorators, applied by build_app -------------------------------------------------

    def driver(self, driver: StorageDriver) -> StorageDriver:
        """Times (and traces) every storage call; checks readiness against the driver."""
        self.monitor = HealthMonitor.from_config(self.config, driver)
        publish(self.monitor)
        if not (self.metrics or self.tracer):
            return driver
        from dockyard.observability.storage import InstrumentedDriver, _no_span

        span = tracing.storage_span(self.tracer) if self.tracer else _no_span
        return InstrumentedDriver(driver, span)

    def cache(self, cache: Any) -> Any:
        """Counts the blob-descriptor cache's lookups and hits."""
        if cache is None or not self.metrics:
            return cache
        from dockyard.observability.storage import InstrumentedCache

        return InstrumentedCache(cache)

    def registry(self, registry: Registry) -> Registry:
        """Reports pushes, pulls, mounts and deletes to the configured endpoints."""
        notifications = self.config.notifications
        if not any(not e.disabled for e in notifications.endpoints):
            return registry
        from dockyard.notifications.events import Source
        from dockyard.notifications.notifier import Journal, Notifier, NotifyingRegistry
        from dockyard.notifications.store import open_store

        port = None if self.config.http.net == "unix" else self.config.http.bind[1]
        self.journal = Journal(open_store(self.config), notifications.endpoints, Source(port))
        notifier = Notifier(
            self.journal,
            include_references=notifications.includereferences,
            host=self.config.http.host,
        )
        return NotifyingRegistry(registry, notifier)

    def authorizer(self, authorizer: Authorizer | None) -> Authorizer | None:
        """Notes who was admitted, for the events of the request."""
        if authorizer is None or self.journal is None:
            return authorizer
        from dockyard.notifications.notifier import ActorRecorder

        return ActorRecorder(authorizer)

    def inner_app(self, app: ASGIApp) -> ASGIApp:
        """Wraps the registry app (inside ``http.prefix``): notifications and metrics."""
        if self.journal is not None:
            from dockyard.notifications.notifier import NotificationMiddleware

            app = NotificationMiddleware(app, self.journal)
        if self.metrics:
            from dockyard.observability.http import MetricsMiddleware

            app = MetricsMiddleware(app)
        return app

    def probes(self) -> Probes | None:
        """The probes (``/livez``, ``/readyz``), served at the root ahead of every layer."""
        if self.monitor is None:
            return None
        from dockyard.observability.debug import Probes

        return Probes(self.monitor)

    def outer_app(self, app: ASGIApp) -> ASGIApp:
        """Wraps the whole app: tracing."""
        if self.tracer is not None:
            app = tracing.TracingMiddleware(app, self.tracer)
        return app

    # --- the background work, started and stopped with the app ----------------------------

    def start(self) -> None:
        if self.monitor is not None:
            self.monitor.start()
        if self.journal is not None:
            self.journal.start()
        if self.snapshots is not None:
            self._tasks.append(asyncio.create_task(self._share_metrics()))

    async def stop(self) -> None:
        await cancel_all(self._tasks)
        if self.monitor is not None:
            await self.monitor.stop()
        if self.journal is not None:
            await self.journal.stop()
        if self.snapshots is not None:
            await asyncio.to_thread(self.snapshots.write)
        await asyncio.to_thread(tracing.shutdown)

    async def _share_metrics(self) -> None:
        assert self.snapshots is not None
        while True:
            try:
                await asyncio.to_thread(self.snapshots.write)
            except OSError as error:
                logger.warning("metrics: cannot share this worker's metrics: %s", error)
            await asyncio.sleep(SNAPSHOT_SECONDS)


def start_debug_listener(
    config: Config, workdir: Path, workers: int
) -> DebugServer | DebugProcess | None:
    """Start the debug listener of ``dockyard serve`` (None when not configured).

    One worker: a thread of this process, reporting its readiness monitor. Several: a
    process forked now, before granian forks the workers; the metrics folder is made and
    named in the environment the workers inherit, so that their metrics and readiness
    reach the listener.
    """
    if config.http.debug is None:
        return None
    from dockyard.observability.debug import DebugProcess, DebugServer

    listener: DebugServer | DebugProcess
    if workers == 1:
        listener = DebugServer(config, None)
    else:
        folder = workdir / "metrics"
        folder.mkdir()
        os.environ[METRICS_DIR_ENV] = str(folder)
        listener = DebugProcess(config, folder)
    listener.start()
    return listener
