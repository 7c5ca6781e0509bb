"""Serving: running the assembled app in granian, with TLS, until SIGINT or SIGTERM.

With one worker (the default) granian runs embedded in this process's event loop; with
several, granian starts worker processes under a supervisor. Every worker builds its own
app from the configuration the main process validated, which granian hands to it (the
configuration itself, including a secret generated because ``http.secret`` was unset, so
the workers of one ``dockyard serve`` accept each other's upload sessions).
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import signal
import socket
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Final

from dockyard import logs
from dockyard.config import Config, ConfigError
from dockyard.heap_trim import HeapTrimmer

if TYPE_CHECKING:
    from starlette.types import ASGIApp

logger = logging.getLogger("dockyard.server")

#: Threads for blocking work (file I/O, hashing of large bodies): most of their time
#: they wait on the disk (a sync, a journal commit), so many more than there are cores
#: can usefully wait at once, and syncs that wait together are committed together.
IO_THREADS: Final = 32

#: Worker processes when ``http.workers`` is unset: one, in the ``dockyard serve``
#: process itself. Several need granian's supervisor process besides; they raise
#: throughput under high concurrency when spare cores exist (see the README).
DEFAULT_WORKERS: Final = 1


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


def worker_app(config: Config, *, in_worker_process: bool = False) -> ASGIApp:
    """The app of one granian worker (granian calls this in every worker).

    ``in_worker_process`` says it runs in a worker process of granian's supervisor, not
    embedded in the ``dockyard serve`` process.
    """
    if in_worker_process:
        _stop_at_once_while_starting()
    from dockyard.assembly import build_app

    _unmap_large_buffers_when_freed()
    HeapTrimmer().start()
    app = build_app(config)
    # Everything built so far lives as long as the worker: keep it out of the collector's
    # scans, which would otherwise walk it on every full collection (a latency spike).
    gc.freeze()
    return app


def _stop_at_once_while_starting() -> None:
    """Make a SIGTERM or SIGINT that reaches a starting worker process end it at once.

    A worker is forked from granian's supervisor and inherits its Python handler, which
    only sets a flag on the supervisor's object: a stop signal that arrives while the
    worker builds its app would be swallowed, and the worker would serve on until the
    supervisor's kill timeout. Until granian installs the worker's own handlers, once the
    app is built, a stop signal ends the worker: it has served nothing, so nothing is lost.

    One case stays granian's: a stop that reaches a worker in the instant it starts serving
    (after it logs ``Started worker-N``, before its event loop runs again) is lost, and the
    supervisor kills the worker after ``http.draintimeout``. Catching it needs the stop
    signals blocked in the worker, which made granian's set-up hang now and then.
    """
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_before_serving)


def _exit_before_serving(signum: int, frame: FrameType | None) -> None:
    os._exit(0)


#: glibc's ``mallopt`` parameter for the size from which allocations are mmapped.
_M_MMAP_THRESHOLD: Final = -3
#: Buffers from this size on get pages of their own, returned to the system when freed.
_MMAP_THRESHOLD_BYTES: Final = 4 << 20
#: glibc's ``mallopt`` parameter for the free space atop the heap that ``free`` gives back.
_M_TRIM_THRESHOLD: Final = -1
#: Free heap top kept for the next buffers (the heap trimmer returns it every 10 s).
_TRIM_THRESHOLD_BYTES: Final = 32 << 20


def _unmap_large_buffers_when_freed() -> None:
    """Keep a worker's memory near its live data on glibc, without faulting in every body.

    glibc raises its mmap threshold after the first large buffer is freed, and from then
    on large buffers come from the heap, whose freed pages stay resident. A fixed
    threshold keeps large buffers mmapped, so freeing them gives the memory back; it is
    not lower because the pieces of a request body must come from the heap, where freed
    pieces are reused instead of faulted in afresh. Fixing the mmap threshold also fixes
    the trim threshold at glibc's 128 KiB, at which freeing a 1 MiB piece (a batch of an
    upload, a chunk of a mirrored blob) gave its pages back and the next one faulted them
    in again (docs/mirror.md has the count); the heap trimmer gives back what stays free.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return  # not glibc: nothing to tune
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)
    mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES)


def _tls_options(config: Config, workdir: Path) -> dict[str, Any]:
    from granian.constants import SSLProtocols

    tls = config.http.tls
    if tls is None:
        return {}
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


def serve(config: Config) -> None:
    """Run the registry until SIGINT or SIGTERM, then drain and stop.

    One worker runs in this process (granian embedded in its event loop); several run as
    granian's worker processes under a supervisor, which costs a process of its own.
    """
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stop_before_serving)
    workers = worker_count(config)
    drain = config.http.draintimeout
    with tempfile.TemporaryDirectory(prefix="dockyard-") as workdir:
        options: dict[str, Any] = {
            "factory": True,
            "interface": Interfaces.ASGI,
            "http": HTTPModes.http1,
            "websockets": False,
            "log_level": LogLevels(_granian_level(config)),
            "log_dictconfig": logs.logging_config(config.log),
            # dockyard writes the access log itself, with what granian does not know.
            "log_access": False,
            **_listen_options(config),
            **_tls_options(config, Path(workdir)),
        }
        kill_timeout = max(1, int(drain.total_seconds())) if drain else 30
        from dockyard.observability.assembly import start_debug_listener

        debug = start_debug_listener(config, Path(workdir), workers)
        logger.info(
            "dockyard serving %s storage on %s with %d worker(s)",
            config.storage.driver,
            config.http.addr,
            workers,
        )
        try:
            if workers == 1:
                _serve_in_process(config, options, kill_timeout)
            else:
                from granian.constants import Loops
                from granian.server import Server

                Server(
                    "dockyard.serving:worker_app",
                    workers=workers,
                    loop=Loops.uvloop,
                    workers_kill_timeout=kill_timeout,
                    **options,
                ).serve(
                    target_loader=partial(worker_app, config, in_worker_process=True),
                    wrap_loader=False,
                )
        finally:
            if debug is not None:
                debug.stop()


def _stop_before_serving(signum: int, frame: FrameType | None) -> None:
    """Stop ``dockyard serve`` told to stop before granian handles the stop signals."""
    raise SystemExit(0)


def _serve_in_process(config: Config, options: dict[str, Any], kill_timeout: int) -> None:
    """Serve with granian embedded in this process's (uvloop) event loop."""
    import uvloop
    from granian.server.embed import Server as EmbeddedServer

    # granian announces its embedded mode as experimental on every start; dockyard's
    # tests run the whole suite through it, so the warning only alarms operators.
    logging.getLogger("_granian").addFilter(_EmbeddedNotice())

    async def run() -> None:
        server = EmbeddedServer(partial(worker_app, config), **options)
        server.workers_kill_timeout = kill_timeout
        loop = asyncio.get_running_loop()
        loop.set_default_executor(
            ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="dockyard-io")
        )
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
