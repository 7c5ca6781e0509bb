"""A running collection's marker, kept fresh while the collector lives, and taken away
by the next collector once it is not.

While a marker exists under ``paths.GC_COLLECTING``, writers record what they use and
in-process caches answer nothing from memory (``dockyard.gc.guard``, ``gc.cache``). A
collector killed (``kill -9``, a lost machine) cannot remove its marker, so the marker
carries a lease: the collector rewrites it every quarter of the lease (its time in
storage is the heartbeat), and the next collector treats a marker whose heartbeat is
older than its lease as dead. It writes a sweep journal for it saying "swept: unknown"
(every in-process cache forgets everything) and then removes it.

The collector fences itself: it condemns nothing unless its last heartbeat began less
than half a lease ago, and a heartbeat that finds its marker gone, or that comes more
than half a lease after the one before, ends its collection. So a marker is only taken
away after its collector stopped condemning; ``docs/collection.md`` has the argument.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from dockyard.gc.journal import collections, journal_name, write_journal
from dockyard.gc.lease import LEASE_TTL
from dockyard.storage import paths
from dockyard.storage.driver.base import PathNotFound, StorageDriver

logger = logging.getLogger(__name__)


class CollectionExpired(Exception):
    """The collector's heartbeat fell behind its lease: it must condemn nothing more."""


class Marker:
    """This collection's marker: written at the start, rewritten every quarter of
    ``lease`` while the collection runs, removed at its end (by ``collect_garbage``)."""

    def __init__(self, driver: StorageDriver, collection: str, lease: timedelta = LEASE_TTL):
        self.driver = driver
        self.path = paths.gc_marker(collection)
        self.lease = lease.total_seconds()
        self._body = json.dumps({"lease": self.lease}).encode()
        #: When (monotonic) the last heartbeat that counts began, and when it ended.
        self._began = 0.0
        self._ended = 0.0
        self._expired = False
        self._beating: asyncio.Task[None] | None = None

    async def write(self) -> datetime:
        """Write the marker and start the heartbeat; the marker's time in storage (T0)."""
        began = time.monotonic()
        await self.driver.put_content(self.path, self._body)
        started = (await self.driver.stat(self.path)).mod_time
        self._began, self._ended = began, time.monotonic()
        self._beating = asyncio.create_task(self._beat())
        return started

    def alive(self) -> bool:
        """Whether the fence is still open (``check`` would pass)."""
        try:
            self.check()
        except CollectionExpired:
            return False
        return True

    def check(self) -> None:
        """The fence before each condemnation: ``CollectionExpired`` once the heartbeat
        is half a lease old (or ended)."""
        if self._expired or time.monotonic() - self._began >= self.lease / 2:
            self._expired = True
            raise CollectionExpired(
                f"the collection's heartbeat fell more than {self.lease / 2:g} s behind"
            )

    async def stop(self) -> None:
        """Stop the heartbeat (the caller then removes the marker)."""
        if self._beating is not None:
            self._beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beating
            self._beating = None

    async def _beat(self) -> None:
        while not self._expired:
            await asyncio.sleep(self.lease / 4)
            began = time.monotonic()
            try:
                await self.driver.stat(self.path)
            except PathNotFound:
                # Taken away as dead: writers may have stopped recording. Never rewrite it.
                logger.warning("gc: this collection's marker was removed; stopping")
                self._expired = True
                return
            except Exception:
                logger.warning("gc: could not look at the collection's marker", exc_info=True)
                continue
            try:
                await self.driver.put_content(self.path, self._body)
            except Exception:
                logger.warning("gc: could not refresh the collection's marker", exc_info=True)
                continue
            ended = time.monotonic()
            if ended - self._ended > self.lease / 2:
                # A gap that long: another collector may have judged the marker dead.
                logger.warning("gc: the collection's heartbeat fell behind; stopping")
                self._expired = True
                return
            self._began, self._ended = began, ended


@dataclass(frozen=True, slots=True)
class DeadMarker:
    """A marker whose heartbeat is older than its lease."""

    collection: str
    heartbeat: datetime


async def remove_dead_markers(driver: StorageDriver, now: datetime, own: str) -> list[DeadMarker]:
    """Take away every marker but ``own`` whose heartbeat is older than its lease at
    ``now`` (storage's clock, as the collector's own marker stamped it).

    For each, a sweep journal saying "swept: unknown" is written first, so every
    in-process cache forgets what it holds before the marker goes (a killed collector
    may have deleted blobs and written no journal).
    """
    dead: list[DeadMarker] = []
    look = await collections(driver)
    for name in look.markers:
        if name == own:
            continue
        path = paths.gc_marker(name)
        try:
            heartbeat = (await driver.stat(path)).mod_time
            lease = _lease_of(await driver.get_content(path))
        except PathNotFound:
            continue  # ended meanwhile
        if (now - heartbeat).total_seconds() <= lease:
            continue
        logger.warning(
            "gc: removing the marker of collection %s, silent since %s (its collector died)",
            name,
            heartbeat.isoformat(),
        )
        await write_journal(driver, journal_name(heartbeat, name), None, await collections(driver))
        with contextlib.suppress(PathNotFound):
            await driver.delete(path)
        dead.append(DeadMarker(name, heartbeat))
    return dead


def _lease_of(body: bytes) -> float:
    """The lease a marker names; markers written before leases existed get the default."""
    try:
        lease = float(json.loads(body)["lease"])
    except (ValueError, KeyError, TypeError):
        return LEASE_TTL.total_seconds()
    return lease if lease > 0 else LEASE_TTL.total_seconds()
