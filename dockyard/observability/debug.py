"""Probes on the main listener, and the debug listener (``http.debug.addr``).

``Probes`` answers ``/livez`` and ``/readyz`` ahead of the registry (no credentials,
no prefix). The debug listener serves, without
credentials and apart from the API: ``/debug/health`` (the reference's JSON: ``{}`` or
check name → error, 503 when failing), ``/debug/vars`` (expvar-like JSON), the probes,
and with ``http.debug.prometheus.enabled`` the metrics at its ``path``; with
``http.debug.tracemalloc.enabled``, ``/debug/tracemalloc`` (see ``allocations``).

The debug listener has its own event loop and its own granian server, so it answers the
same whether one worker serves in the ``dockyard serve`` process or several run as
granian's worker processes. With one worker it runs on a thread of that process; with
several, in a process of its own forked before the workers (``DebugProcess``). It probes
nothing itself:
with one worker it reports that process's readiness monitor (``health.published``), with
several the union of the failing checks every live worker shares through the metrics
folder, so storage is probed once per serving process. Metrics come from every worker
(see ``metrics``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from starlette.types import Receive, Scope, Send

from dockyard.config import Config
from dockyard.observability.allocations import AllocationTracer, parse_query
from dockyard.observability.health import HealthMonitor, not_checked, published
from dockyard.observability.metrics import MetricsCollector, exposition, workers_health

logger = logging.getLogger("dockyard.debug")

_JSON: Final = [(b"content-type", b"application/json; charset=utf-8")]


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] = _JSON
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


#: Failing checks → their errors; empty when ready.
HealthStatus = Callable[[], dict[str, str]]


async def _health(send: Send, status: HealthStatus, method: str) -> None:
    failing = status()
    body = json.dumps(failing).encode()
    await _respond(send, 503 if failing else 200, b"" if method == "HEAD" else body)


class Probes:
    """``/livez`` (the process answers) and ``/readyz`` (every health check passes).

    An app of its own that the outermost layer hands exactly ``PATHS`` (for ``GET`` and
    ``HEAD``), before any middleware: probes need no credentials and no prefix, and
    every other request is spared a layer.
    """

    PATHS: Final = frozenset({"/livez", "/readyz"})

    def __init__(self, monitor: HealthMonitor) -> None:
        self.monitor = monitor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/livez":
            await _respond(send, 200, b"{}")
        else:
            await _health(send, self.monitor.status, scope["method"])


class DebugApp:
    """The debug listener's ASGI app."""

    def __init__(
        self,
        config: Config,
        health: HealthStatus,
        collector: MetricsCollector | None,
        vars_extra: Callable[[], dict[str, Any]] | None = None,
        tracer: AllocationTracer | None = None,
    ) -> None:
        self.config = config
        self.health = health
        self.collector = collector
        self.metrics_path = config.http.debug.prometheus_path if config.http.debug else ""
        self.vars_extra = vars_extra
        self.tracer = tracer
        self.started = time.time()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if method not in ("GET", "HEAD"):
            await _respond(send, 405, b'{"error":"method not allowed"}')
            return
        if path in ("/debug/health", "/readyz"):
            await _health(send, self.health, method)
        elif path == "/livez":
            await _respond(send, 200, b"{}")
        elif path == "/debug/vars":
            body = json.dumps(await asyncio.to_thread(self.vars), indent=1).encode()
            await _respond(send, 200, body)
        elif self.tracer is not None and path == "/debug/tracemalloc":
            await _allocations(send, self.tracer, scope.get("query_string", b""))
        elif self.collector is not None and path == self.metrics_path:
            body, content_type = await asyncio.to_thread(exposition, self.collector)
            await _respond(send, 200, body, [(b"content-type", content_type.encode())])
        else:
            await _respond(send, 404, b'{"error":"not found"}')

    def vars(self) -> dict[str, Any]:
        """expvar's ``cmdline`` and ``memstats``, and the registry's own state."""
        variables: dict[str, Any] = {
            "cmdline": sys.argv,
            "memstats": _memstats(os.getpid()),
            "registry": {
                "storage": {"driver": self.config.storage.driver},
                "health": self.health(),
                "uptime_seconds": round(time.time() - self.started, 3),
            },
        }
        folder = self.collector.folder if self.collector is not None else None
        if folder is not None:
            workers = sorted(int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit())
            variables["workers"] = {
                str(pid): _memstats(pid) for pid in workers if Path(f"/proc/{pid}").exists()
            }
        if self.vars_extra is not None:
            variables["registry"].update(self.vars_extra())
        return variables


def _memstats(pid: int) -> dict[str, int]:
    """Resident and peak memory of a process, in bytes (Linux ``/proc``)."""
    stats: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                stats["rss_bytes" if key == "VmRSS" else "max_rss_bytes"] = (
                    int(value.split()[0]) * 1024
                )
    return stats


async def _allocations(send: Send, tracer: AllocationTracer, query: bytes) -> None:
    try:
        limit, group_by = parse_query(query)
    except ValueError as error:
        await _respond(send, 400, json.dumps({"error": str(error)}).encode())
        return
    report = await asyncio.to_thread(tracer.report, limit, group_by)
    await _respond(send, 200, json.dumps(report, indent=1).encode())


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def serving_health(config: Config, workers_folder: Path | None) -> HealthStatus:
    """The readiness of what serves in this process, or of every worker in ``workers_folder``.

    Until a monitor is published (one worker) or a worker has shared its checks
    (several), every configured check is reported as not checked yet.
    """
    starting = not_checked(config)
    if workers_folder is None:

        def in_process() -> dict[str, str]:
            monitor = published()
            return monitor.status() if monitor is not None else starting

        return in_process
    folder = workers_folder

    def of_workers() -> dict[str, str]:
        shared = workers_health(folder)
        if not shared:
            return starting
        failing: dict[str, str] = {}
        for checks in shared.values():
            for name, error in checks.items():
                failing.setdefault(name, error)
        return failing

    return of_workers


class DebugServer:
    """The debug listener on its own thread and event loop (see the module docstring).

    Built in the main thread: granian applies the logging configuration when a server is
    made, which must not race the main server doing the same.
    """

    def __init__(self, config: Config, workers_folder: Path | None) -> None:
        from granian.constants import HTTPModes, Interfaces
        from granian.log import LogLevels
        from granian.server.embed import Server

        from dockyard.config.values import parse_addr
        from dockyard.logs import logging_config
        from dockyard.serving import _EmbeddedNotice, _granian_level

        assert config.http.debug is not None
        logging.getLogger("_granian").addFilter(_EmbeddedNotice())
        self.addr = config.http.debug.addr
        collector = (
            MetricsCollector(folder=workers_folder)
            if config.http.debug.prometheus_enabled
            else None
        )
        health = serving_health(config, workers_folder)
        tracer = None
        if config.http.debug.tracemalloc_enabled:
            tracer = AllocationTracer(config.http.debug.tracemalloc_frames)
            tracer.start()
        app = DebugApp(config, health, collector, _notification_vars(config), tracer)
        host, port = parse_addr(self.addr, "http.debug.addr")
        self.server = Server(
            app,
            address=host,
            port=port,
            interface=Interfaces.ASGI,
            http=HTTPModes.http1,
            websockets=False,
            log_level=LogLevels(_granian_level(config)),
            log_dictconfig=logging_config(config.log),
            log_access=False,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="dockyard-debug", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.server.stop)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        import uvloop

        uvloop.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            await self.server.serve()
        except Exception:
            logger.exception("the debug listener on %s stopped", self.addr)

    async def serve_as_process(self) -> None:
        """Serve in this process's main thread until SIGTERM or SIGINT."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.server.stop)
        await self._serve()


class DebugProcess:
    """The debug listener in a process of its own, beside several granian workers.

    granian's supervisor forks its workers (at start and whenever one dies); a fork while
    another thread of the supervisor runs a granian server can leave the new worker hung
    in its start-up. So with several workers the listener is forked first, while the
    supervisor has no other thread, and serves from its own process's main thread; it
    reads what it reports from the workers' metrics folder either way.
    """

    def __init__(self, config: Config, workers_folder: Path) -> None:
        import multiprocessing

        self.addr = config.http.debug.addr if config.http.debug else ""
        self._process = multiprocessing.get_context("fork").Process(
            target=_serve_debug_process,
            args=(config, workers_folder, os.getpid()),
            name="dockyard-debug",
        )

    def start(self) -> None:
        self._process.start()

    def stop(self) -> None:
        if self._process.pid is None:
            return
        self._process.terminate()
        self._process.join(timeout=10)
        if self._process.exitcode is None:
            logger.warning("the debug listener on %s did not stop in 10 s: killed", self.addr)
            self._process.kill()
            self._process.join()


def _serve_debug_process(config: Config, workers_folder: Path, parent: int) -> None:
    import uvloop

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    _stop_with(parent)
    server = DebugServer(config, workers_folder)
    uvloop.run(server.serve_as_process())


def _stop_with(parent: int) -> None:
    """Have the kernel send SIGTERM when ``parent`` ends, even by SIGKILL (Linux)."""
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent:
        raise SystemExit(0)


def _notification_vars(config: Config) -> Callable[[], dict[str, Any]] | None:
    if not config.notifications.endpoints:
        return None
    from dockyard.notifications.store import queue_stats

    return lambda: {"notifications": queue_stats(config)}
