"""How a collection reports: a text listing or JSON, and a progress line on a terminal."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO, TypeVar

from dockyard.storage import paths
from dockyard.storage.driver.base import PathNotFound, StorageDriver
from dockyard.storage.gc import GCResult

logger = logging.getLogger("dockyard.gc")

T = TypeVar("T")


def render(result: GCResult, *, as_json: bool = False) -> str:
    """The report ``dockyard gc`` prints: every manifest and blob with its size, a summary."""
    if as_json:
        return json.dumps(result.to_json(), indent=2) + "\n"
    lines = [*result.lines(), ("dry run: " if result.dry_run else "") + str(result)]
    return "\n".join(lines) + "\n"


class TerminalProgress:
    """A progress line on a terminal (rewritten in place, at most ten times a second)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._last = 0.0
        self._shown = False

    @classmethod
    def if_terminal(cls, stream: TextIO) -> TerminalProgress | None:
        """A progress line on ``stream`` if it is a terminal, else None (no output)."""
        return cls(stream) if stream.isatty() else None

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self._last < 0.1 and done != total:
            return
        self._last = now
        if total:
            width = 30
            filled = width * done // total
            bar = "#" * filled + "-" * (width - filled)
            text = f"\r{phase:<5} [{bar}] {done}/{total}"
        else:
            text = f"\r{phase:<5} {done}"
        self.stream.write(text)
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        """End the progress line, if one was shown."""
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()


@dataclass(frozen=True, slots=True)
class CollectionRun:
    """What the last collection did, as recorded in storage for the status page."""

    started: datetime
    ended: datetime
    dry_run: bool
    manifests_deleted: int
    blobs_deleted: int
    bytes_freed: int
    #: Blobs in storage after the collection and their bytes: the storage used at ``ended``
    #: (a dry run deletes nothing, so it counts what it would have deleted too).
    blobs_stored: int
    bytes_stored: int
    uploads_purged: int

    @classmethod
    def of(cls, result: GCResult, started: datetime, ended: datetime) -> CollectionRun:
        """The record of ``result``, a collection that ran from ``started`` to ``ended``."""
        return cls(
            started=started,
            ended=ended,
            dry_run=result.dry_run,
            manifests_deleted=len(result.manifests_deleted),
            blobs_deleted=len(result.blobs_deleted),
            bytes_freed=result.bytes_freed,
            blobs_stored=result.blobs_kept + (len(result.blobs_deleted) if result.dry_run else 0),
            bytes_stored=result.bytes_kept + (result.bytes_freed if result.dry_run else 0),
            uploads_purged=result.uploads_purged,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "started": self.started.isoformat(),
            "ended": self.ended.isoformat(),
            "dry_run": self.dry_run,
            "manifests_deleted": self.manifests_deleted,
            "blobs_deleted": self.blobs_deleted,
            "bytes_freed": self.bytes_freed,
            "blobs_stored": self.blobs_stored,
            "bytes_stored": self.bytes_stored,
            "uploads_purged": self.uploads_purged,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CollectionRun:
        return cls(
            started=datetime.fromisoformat(data["started"]),
            ended=datetime.fromisoformat(data["ended"]),
            dry_run=bool(data["dry_run"]),
            manifests_deleted=int(data["manifests_deleted"]),
            blobs_deleted=int(data["blobs_deleted"]),
            bytes_freed=int(data["bytes_freed"]),
            blobs_stored=int(data["blobs_stored"]),
            bytes_stored=int(data["bytes_stored"]),
            uploads_purged=int(data["uploads_purged"]),
        )


async def record_collection(driver: StorageDriver, run: CollectionRun) -> None:
    """Keep ``run`` in storage as the last collection (replacing the one before)."""
    await driver.put_content(paths.GC_LAST_RUN, json.dumps(run.to_json()).encode())


async def last_collection(driver: StorageDriver) -> CollectionRun | None:
    """The last collection recorded in storage; None if none ran (or its record is unreadable)."""
    return await read_record(driver, paths.GC_LAST_RUN, CollectionRun.from_json)


async def read_record(
    driver: StorageDriver, path: str, parse: Callable[[dict[str, Any]], T]
) -> T | None:
    """The JSON record at ``path``, parsed; None if absent or not one ``parse`` accepts."""
    try:
        data = json.loads(await driver.get_content(path))
        return parse(data)
    except PathNotFound:
        return None
    except (ValueError, KeyError, TypeError):
        logger.warning("ignoring an unreadable run record in storage")
        return None
