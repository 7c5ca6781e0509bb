"""What finished collections swept, in storage, for every instance's in-process caches.

Every collection writes a sweep journal (``paths.gc_journal``) before it removes its
marker: the digests it deleted (or that it does not know, after a failure) and the name of
the journal before it. Markers
and journals live in one folder, so one listing (``Collections``) tells a reader both
whether a collection runs and which have finished. ``SweepAwareCache`` reads it before it
trusts an in-process "exists"; ``docs/collection.md`` has the argument.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from dockyard.digest import Digest
from dockyard.errors import DigestInvalid
from dockyard.storage import paths
from dockyard.storage.driver.base import PathNotFound, StorageDriver
from dockyard.storage.driver.plan import Listing, Plan

#: Journals kept; a reader that fell further behind forgets its whole cache.
KEEP = 32

#: The longest an in-process cache goes on using one look at the collections' folder
#: (``SweepAwareCache``); a collection condemns nothing until this long after its start.
LOOK_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class Collections:
    """One look at the collections' folder: is one running, and which journals exist."""

    running: bool
    journals: tuple[str, ...]
    #: The running collections' ids (their markers' names).
    markers: tuple[str, ...] = ()


async def collections(driver: StorageDriver) -> Collections:
    """A fresh look (a reading plan: a driver answers it from memory only while it is
    told of every change)."""
    return await driver.run(_look, reads_only=True)


def _look() -> Plan[Collections]:
    (names,) = yield Listing([paths.GC_COLLECTING])
    journals = tuple(n for n in names or () if n.startswith(paths.GC_JOURNAL_PREFIX))
    markers = tuple(n for n in names or () if not n.startswith(paths.GC_JOURNAL_PREFIX))
    return Collections(running=bool(markers), journals=journals, markers=markers)


def journal_name(started: datetime, collection: str) -> str:
    """A journal's name: sorts by the collection's T0."""
    return f"{paths.GC_JOURNAL_PREFIX}{started.strftime('%Y%m%dT%H%M%S.%f')}-{collection}"


async def write_journal(
    driver: StorageDriver, name: str, swept: Iterable[Digest] | None, before: Collections
) -> None:
    """Record what a collection deleted (None: not known, as after a failure), then prune
    all but the newest ``KEEP`` journals.

    Written whether or not anything was deleted: a writer that sees the set of journals
    unchanged knows that no collection finished meanwhile.
    """
    previous = before.journals[-1] if before.journals else None
    listed = None if swept is None else sorted(str(d) for d in swept)
    body = {"previous": previous, "swept": listed}
    await driver.put_content(paths.gc_journal(name), json.dumps(body).encode())
    for old in sorted({*before.journals, name})[:-KEEP]:
        with contextlib.suppress(PathNotFound):
            await driver.delete(paths.gc_journal(old))


@dataclass(frozen=True, slots=True)
class Journal:
    """What one finished collection swept."""

    #: The newest journal when it was written (None for the first).
    previous: str | None
    #: The digests it deleted; None when not known (it failed half-way).
    swept: list[Digest] | None


async def read_journal(driver: StorageDriver, name: str) -> Journal | None:
    """A journal; None if it is gone (pruned) or garbled."""
    try:
        body = json.loads(await driver.get_content(paths.gc_journal(name)))
        previous, listed = body["previous"], body["swept"]
        swept = None if listed is None else [Digest.parse(text) for text in listed]
    except (PathNotFound, ValueError, KeyError, TypeError, DigestInvalid):
        return None
    if previous is not None and not isinstance(previous, str):
        return None
    return Journal(previous, swept)
