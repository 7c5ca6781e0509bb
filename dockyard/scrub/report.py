"""The record of the last scrub, kept in storage for the status page."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dockyard.gc.report import read_record
from dockyard.storage import paths

if TYPE_CHECKING:
    from dockyard.scrub.scrub import ScrubResult
    from dockyard.storage.driver.base import StorageDriver


@dataclass(frozen=True, slots=True)
class ScrubRun:
    """What the last scrub checked and found."""

    started: datetime
    ended: datetime
    repair: bool
    check: str
    #: The glob of repositories scrubbed; None: all of them.
    selection: str | None
    repositories: int
    manifests: int
    blobs: int
    bytes_hashed: int
    problems: int
    repaired: int

    @classmethod
    def of(
        cls,
        result: ScrubResult,
        *,
        check: str,
        repair: bool,
        selection: str | None,
        started: datetime,
        ended: datetime,
    ) -> ScrubRun:
        """The record of ``result``, a scrub that ran from ``started`` to ``ended``."""
        return cls(
            started=started,
            ended=ended,
            repair=repair,
            check=check,
            selection=selection,
            repositories=result.repositories,
            manifests=result.manifests,
            blobs=result.blobs,
            bytes_hashed=result.bytes_hashed,
            problems=len(result.problems),
            repaired=sum(1 for problem in result.problems if problem.repaired),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "started": self.started.isoformat(),
            "ended": self.ended.isoformat(),
            "repair": self.repair,
            "check": self.check,
            "selection": self.selection,
            "repositories": self.repositories,
            "manifests": self.manifests,
            "blobs": self.blobs,
            "bytes_hashed": self.bytes_hashed,
            "problems": self.problems,
            "repaired": self.repaired,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScrubRun:
        return cls(
            started=datetime.fromisoformat(data["started"]),
            ended=datetime.fromisoformat(data["ended"]),
            repair=bool(data["repair"]),
            check=str(data["check"]),
            selection=None if data["selection"] is None else str(data["selection"]),
            repositories=int(data["repositories"]),
            manifests=int(data["manifests"]),
            blobs=int(data["blobs"]),
            bytes_hashed=int(data["bytes_hashed"]),
            problems=int(data["problems"]),
            repaired=int(data["repaired"]),
        )


async def record_scrub(driver: StorageDriver, run: ScrubRun) -> None:
    """Keep ``run`` in storage as the last scrub (replacing the one before)."""
    await driver.put_content(paths.SCRUB_LAST_RUN, json.dumps(run.to_json()).encode())


async def last_scrub(driver: StorageDriver) -> ScrubRun | None:
    """The last scrub recorded in storage; None if none ran."""
    return await read_record(driver, paths.SCRUB_LAST_RUN, ScrubRun.from_json)
