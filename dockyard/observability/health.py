"""Readiness: the ``health`` checks, run in the background, behind ``/readyz``.

As the reference registry, each check runs every ``interval`` and counts as failing once
it failed ``threshold`` times in a row; ``/debug/health`` shows ``{}`` when every check
passes, else each failing check's name with its error, and answers 503. Unlike the
reference, a failing check never turns API requests into 503s (distribution#2292): it
only makes the instance unready, so a load balancer can take it out of rotation while
the reads it can still serve keep working for clients already talking to it.

Checks: storage (write, read back and delete a small file under dockyard's reserved
prefix; read-only registries only list the root), Redis (``PING``) when configured,
and the reference's ``file`` (fails while the file exists), ``http`` (fails unless the
URL answers ``statuscode``) and ``tcp`` (fails unless the address accepts connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from typing import Final

from dockyard.config import Config
from dockyard.config.model import HealthCheckConfig
from dockyard.config.values import parse_addr
from dockyard.observability.tasks import cancel_all
from dockyard.storage import paths
from dockyard.storage.driver.base import StorageDriver

logger = logging.getLogger("dockyard.health")

#: Where storage checks write: dockyard's own folder beside the registry's content.
HEALTH_PREFIX: Final = f"{paths.DOCKYARD}/health"
#: Reported for a check that has not finished its first run.
NOT_CHECKED: Final = "not checked yet"

Probe = Callable[[], Awaitable[None]]


class CheckFailed(Exception):
    """A check's target is not healthy; the message says why (shown to operators)."""


def storage_probe(driver: StorageDriver, *, read_only: bool) -> Probe:
    """Write, read back and delete one small file (or, read-only, list the root)."""
    name = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    path = f"{HEALTH_PREFIX}/{safe}"

    async def probe() -> None:
        if read_only:
            await driver.list("/")
            return
        token = secrets.token_bytes(16)
        try:
            await driver.put_content(path, token)
            if await driver.get_content(path) != token:
                raise CheckFailed("storage returned different content than was written")
        finally:
            with contextlib.suppress(Exception):
                await driver.delete(path)

    return probe


def redis_probe(config: Config) -> Probe:
    from redis.asyncio import Redis

    from dockyard.storage.cache.redis import connection_pool

    assert config.redis is not None
    client = Redis(connection_pool=connection_pool(config.redis))

    async def probe() -> None:
        await client.ping()

    return probe


def file_probe(path: str) -> Probe:
    async def probe() -> None:
        if await asyncio.to_thread(os.path.exists, path):
            raise CheckFailed(f"file exists: {path}")

    return probe


def http_probe(check: HealthCheckConfig) -> Probe:
    import httpx

    headers = [(k, v) for k, values in check.headers.items() for v in values]

    async def probe() -> None:
        async with httpx.AsyncClient(timeout=check.timeout.total_seconds()) as client:
            response = await client.get(check.target, headers=headers)
        if response.status_code != check.statuscode:
            raise CheckFailed(
                f"{check.target} answered {response.status_code}, expected {check.statuscode}"
            )

    return probe


def tcp_probe(check: HealthCheckConfig) -> Probe:
    host, port = parse_addr(check.target, "health.tcp.addr")

    async def probe() -> None:
        _, writer = await asyncio.open_connection(host or "127.0.0.1", port)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    return probe


class Check:
    """One configured check and its recent results."""

    def __init__(self, config: HealthCheckConfig, probe: Probe) -> None:
        self.config = config
        self.probe = probe
        self.failures = 0
        self.error: str | None = NOT_CHECKED

    async def run_once(self) -> None:
        try:
            await asyncio.wait_for(self.probe(), self.config.timeout.total_seconds())
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.failures += 1
            text = _describe(error)
            if self.failures >= self.config.threshold:
                if self.error != text:
                    logger.warning("health check %s failing: %s", self.config.name, text)
                self.error = text
            return
        if self.failures and self.error is not None and self.error != NOT_CHECKED:
            logger.info("health check %s passing again", self.config.name)
        self.failures = 0
        self.error = None


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, CheckFailed):
        return str(error)
    # Driver errors carry no storage paths in their messages; OSErrors name only a cause.
    if isinstance(error, OSError) and error.strerror:
        return f"{type(error).__name__}: {error.strerror}"
    return f"{type(error).__name__}: {error}"


def not_checked(config: Config) -> dict[str, str]:
    """The status of ``config``'s checks before any has run."""
    return {check.name: NOT_CHECKED for check in config.health.checks}


class HealthMonitor:
    """Runs every check on its interval; ``status()`` is what ``/readyz`` reports.

    A serving process has one, built with its app (``Operations``) and published for the
    debug listener of the same process (``published``), so storage is probed once per
    process and both listeners report the same.
    """

    def __init__(self, checks: list[Check]) -> None:
        self.checks = checks
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def from_config(cls, config: Config, driver: StorageDriver) -> HealthMonitor:
        checks: list[Check] = []
        for check in config.health.checks:
            probe: Probe
            if check.kind == "storagedriver":
                probe = storage_probe(driver, read_only=config.storage.readonly)
            elif check.kind == "redis":
                probe = redis_probe(config)
            elif check.kind == "file":
                probe = file_probe(check.target)
            elif check.kind == "http":
                probe = http_probe(check)
            else:
                probe = tcp_probe(check)
            checks.append(Check(check, probe))
        return cls(checks)

    def status(self) -> dict[str, str]:
        """Failing checks → their error; empty when ready."""
        return {c.config.name: c.error for c in self.checks if c.error is not None}

    def start(self) -> None:
        for check in self.checks:
            self._tasks.append(asyncio.create_task(self._run(check)))

    async def stop(self) -> None:
        await cancel_all(self._tasks)

    async def _run(self, check: Check) -> None:
        interval = check.config.interval.total_seconds()
        while True:
            await check.run_once()
            await asyncio.sleep(interval)


_published: HealthMonitor | None = None


def publish(monitor: HealthMonitor) -> None:
    """Make ``monitor`` this process's readiness (its ``status`` is safe from any thread)."""
    global _published
    _published = monitor


def published() -> HealthMonitor | None:
    """This process's readiness monitor, once its app was built."""
    return _published
