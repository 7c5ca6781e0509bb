"""What ``scrub --repair`` changes, journaled in storage before and after each change.

Every repairing scrub keeps one journal, ``_dockyard/scrub/repairs/<start>-<id>.json``
(replaced whole, atomically, at each step): the selection it scrubs, and for each repair
the repository, the digest, what was wrong, where the content goes in quarantine, and its
state, ``intended`` before anything is changed and ``done`` once the content is moved aside
and the link removed. A scrub that completes marks its journal ``complete``.

A journal left incomplete tells what an interrupted repair was doing; the next repairing
scrub resumes it first: each repair still ``intended`` is checked again (the content may
be in place, quarantined, or pushed again meanwhile) and repaired if it still needs it,
under the new journal; the old one is then marked complete, naming the one that resumed
it. The newest ``KEEP`` complete journals are kept.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from dockyard.storage import paths
from dockyard.storage.driver.base import PathNotFound, StorageDriver

REPAIRS = f"{paths.DOCKYARD}/scrub/repairs"
#: Complete journals kept (the newest); incomplete ones stay until resumed.
KEEP = 32

State = Literal["intended", "done"]


@dataclass(slots=True)
class Repair:
    """One repair: a repository's link to a blob, and the content if it is corrupt."""

    repository: str
    digest: str
    kind: str
    detail: str
    #: Where corrupt content is moved (None: only the link goes).
    quarantine: str | None
    #: The size manifests declare for the blob (None: none names it).
    declared_size: int | None
    state: State = "intended"


@dataclass(slots=True)
class RepairJournal:
    """One repairing scrub's journal (see the module docstring)."""

    name: str
    selection: list[str | None]
    started: str
    repairs: list[Repair] = field(default_factory=list)
    complete: bool = False
    resumed: list[str] = field(default_factory=list)
    resumed_by: str | None = None

    @property
    def path(self) -> str:
        return f"{REPAIRS}/{self.name}"

    @classmethod
    def begin(cls, started: datetime, selection: list[str | None]) -> RepairJournal:
        name = f"{started.strftime('%Y%m%dT%H%M%S.%f')}-{uuid.uuid4().hex}.json"
        return cls(name, selection, started.isoformat())

    async def intend(self, driver: StorageDriver, repair: Repair) -> None:
        """Journal a repair before anything of it is changed."""
        self.repairs.append(repair)
        await self.save(driver)

    async def done(self, driver: StorageDriver, repair: Repair) -> None:
        """Journal that a repair is finished."""
        repair.state = "done"
        await self.save(driver)

    async def finish(self, driver: StorageDriver) -> None:
        """Mark the journal complete, and prune the oldest complete ones."""
        self.complete = True
        await self.save(driver)
        await _prune(driver)

    async def save(self, driver: StorageDriver) -> None:
        await driver.put_content(self.path, json.dumps(asdict(self), indent=1).encode())


async def read_journal(driver: StorageDriver, name: str) -> RepairJournal | None:
    """A journal; None if it is gone or not one dockyard wrote."""
    try:
        raw: Any = json.loads(await driver.get_content(f"{REPAIRS}/{name}"))
        repairs = [Repair(**entry) for entry in raw.pop("repairs")]
        return RepairJournal(repairs=repairs, **raw)
    except (PathNotFound, ValueError, KeyError, TypeError, AttributeError):
        return None


async def journals(driver: StorageDriver) -> list[RepairJournal]:
    """Every readable journal, oldest first."""
    try:
        names = [path.rsplit("/", 1)[-1] for path in await driver.list(REPAIRS)]
    except PathNotFound:
        return []
    found = [await read_journal(driver, name) for name in sorted(names)]
    return [journal for journal in found if journal is not None]


async def _prune(driver: StorageDriver) -> None:
    complete = [journal for journal in await journals(driver) if journal.complete]
    for journal in complete[:-KEEP]:
        with contextlib.suppress(PathNotFound):
            await driver.delete(journal.path)
