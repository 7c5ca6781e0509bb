"""Garbage collection while the registry serves: mark, condemn, re-check, then delete.

A collection writes its marker (``paths.gc_marker``); from then on writers record what they use
(``dockyard.gc.guard``). Its time in storage is T0.

Mark: every manifest revision of every repository is kept, with its body, config,
layers and (for indexes) child manifests. With ``delete_untagged``, only manifests
reachable from a tag are kept (tagged manifests, the children of kept indexes and the
referrers of kept manifests, transitively; with ``keep_orphan_referrers`` also referrers
whose subject is gone); the others are deleted. Blobs a repository linked since
T0 - ``grace`` (an upload or mount whose manifest has not come yet) are kept too.

Sweep: a blob neither marked nor written since T0 - ``grace`` is first moved aside
(``paths.condemned_blob``); only then are the writers' records read. A blob a writer
recorded since T0 is moved back, the rest deleted. Untagged manifests go the same way
through their revision links. ``docs/collection.md`` argues why each interleaving with
a push, a mount or a HEAD is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from dockyard.digest import Digest, is_digest
from dockyard.errors import DigestInvalid, ManifestInvalid, ManifestUnverified
from dockyard.gc.guard import collecting
from dockyard.gc.journal import LOOK_SECONDS, collections, journal_name, write_journal
from dockyard.gc.lease import LEASE_TTL
from dockyard.gc.marker import CollectionExpired, Marker, remove_dead_markers
from dockyard.manifest.base import Manifest
from dockyard.storage import paths
from dockyard.storage.cache.base import BlobDescriptorCache
from dockyard.storage.catalog import repository_names
from dockyard.storage.driver.base import FileInfo, PathNotFound, StorageDriver, parent_of
from dockyard.storage.driver.plan import Each, Move, Plan, Read, Size
from dockyard.storage.manifests import _parse_stored
from dockyard.storage.tags import StorageTags
from dockyard.storage.uploads import purge_uploads

logger = logging.getLogger(__name__)

#: How many repositories are marked, and blobs swept, at once (listing on S3 is slow).
CONCURRENCY = 16

#: Blobs condemned, re-checked and deleted per plan (per worker-thread hop on local storage).
SWEEP_BATCH = 256

#: Longer than the tick of the coarse clock file systems stamp modification times with.
_CLOCK_TICK = 0.02

#: Slack for two hosts' clocks measuring the same interval differently.
_CLOCK_MARGIN = 0.1

T = TypeVar("T")

#: Called with a phase name, how much of it is done, and its total (None while unknown).
Progress = Callable[[str, int, int | None], None]


@dataclass(slots=True)
class GCResult:
    """What a collection found and did (or would do, in a dry run)."""

    dry_run: bool = False
    repositories: int = 0
    manifests_marked: int = 0
    blobs_marked: int = 0
    manifests_deleted: list[tuple[str, Digest]] = field(default_factory=list)
    blobs_deleted: list[Digest] = field(default_factory=list)
    #: The size of every deleted manifest and blob, by digest.
    sizes: dict[Digest, int] = field(default_factory=dict)
    bytes_freed: int = 0
    #: Condemned content a writer used during the collection, so put back.
    restored: list[Digest] = field(default_factory=list)
    #: Files under ``blobs/`` that are no blob's content (left alone, never deleted).
    strays: list[str] = field(default_factory=list)
    #: Abandoned upload sessions removed (with their S3 multipart uploads).
    uploads_purged: int = 0
    #: Blobs left in storage after the sweep, and their bytes: the storage used.
    blobs_kept: int = 0
    bytes_kept: int = 0

    def __str__(self) -> str:
        verb = "would be swept" if self.dry_run else "swept"
        text = (
            f"{self.repositories} repositories, {self.manifests_marked} manifests and "
            f"{self.blobs_marked} blobs marked; {len(self.manifests_deleted)} manifests and "
            f"{len(self.blobs_deleted)} blobs ({self.bytes_freed} bytes) {verb}"
        )
        if self.uploads_purged:
            text += f"; {self.uploads_purged} abandoned uploads purged"
        if self.restored:
            text += f"; {len(self.restored)} kept because they were used meanwhile"
        if self.strays:
            text += f"; {len(self.strays)} stray files under blobs/ skipped: " + ", ".join(
                self.strays
            )
        return text

    def lines(self) -> list[str]:
        """Every deleted (or, in a dry run, deletable) manifest and blob with its size."""
        listed = [
            f"manifest {name}@{digest} {self.sizes.get(digest, 0)}"
            for name, digest in self.manifests_deleted
        ]
        listed += [f"blob {digest} {self.sizes.get(digest, 0)}" for digest in self.blobs_deleted]
        return listed

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data (``dockyard gc --json``)."""
        return {
            "dry_run": self.dry_run,
            "repositories": self.repositories,
            "manifests_marked": self.manifests_marked,
            "blobs_marked": self.blobs_marked,
            "manifests_deleted": [
                {"repository": name, "digest": str(digest), "size": self.sizes.get(digest, 0)}
                for name, digest in self.manifests_deleted
            ],
            "blobs_deleted": [
                {"digest": str(digest), "size": self.sizes.get(digest, 0)}
                for digest in self.blobs_deleted
            ],
            "bytes_freed": self.bytes_freed,
            "restored": [str(digest) for digest in self.restored],
            "strays": list(self.strays),
            "uploads_purged": self.uploads_purged,
            "blobs_kept": self.blobs_kept,
            "bytes_kept": self.bytes_kept,
        }


@dataclass(slots=True)
class _Repository:
    """What marking one repository found."""

    name: str
    marked: set[Digest] = field(default_factory=set)
    manifests_marked: int = 0
    #: Untagged, unreachable manifests old enough to delete, with their parse.
    doomed: dict[Digest, Manifest] = field(default_factory=dict)
    #: Every blob the repository links, and whether the link is younger than the cutoff.
    links: dict[Digest, bool] = field(default_factory=dict)


async def collect_garbage(
    driver: StorageDriver,
    *,
    dry_run: bool = False,
    remove_untagged: bool = False,
    grace: timedelta = timedelta(0),
    cache: BlobDescriptorCache | None = None,
    keep_orphan_referrers: bool = False,
    progress: Progress | None = None,
    purge_uploads_after: timedelta | None = None,
    lease: timedelta = LEASE_TTL,
) -> GCResult:
    """Collect once; ``dry_run`` only reports. Safe while any number of instances serve.

    At most one collection may run at a time (``dockyard.gc.lease``). Pass the registry's
    blob-descriptor ``cache`` so swept blobs leave it too. With ``purge_uploads_after``,
    upload sessions started longer ago go too, with the S3 multipart uploads under them.
    The marker's heartbeat is kept every quarter of ``lease`` (``dockyard.gc.marker``);
    markers of dead collectors are removed first.
    """
    report = progress or _no_progress
    result = GCResult(dry_run=dry_run)
    collection = uuid.uuid4().hex
    marker = None if dry_run else Marker(driver, collection, lease)
    started = await _begin(driver, marker, collection)
    fence = marker.check if marker is not None else _no_fence
    begun = time.monotonic()
    cutoff = started - grace
    # Storage clocks may count whole seconds (S3): a record stamped in T0's second counts.
    started = started.replace(microsecond=0)
    complete = False
    try:
        names = await repository_names(driver)
        result.repositories = len(names)
        done = 0

        async def mark(name: str) -> _Repository:
            nonlocal done
            found = await _mark_repository(
                driver, name, remove_untagged, keep_orphan_referrers, cutoff, dry_run
            )
            done += 1
            report("mark", done, len(names))
            return found

        marked_repositories = await _bounded(mark(name) for name in names)
        marked: set[Digest] = set()
        linked_by: dict[Digest, list[str]] = {}
        for found in marked_repositories:
            marked |= found.marked
            result.manifests_marked += found.manifests_marked
            for digest, recent in found.links.items():
                linked_by.setdefault(digest, []).append(found.name)
                if recent:
                    marked.add(digest)
        doomed = [
            (found.name, [manifest for _, manifest in sorted(found.doomed.items())])
            for found in marked_repositories
            if found.doomed
        ]
        deleted = await _bounded(
            _delete_manifests(driver, name, manifests, started, dry_run, fence)
            for name, manifests in doomed
        )
        for (name, manifests), gone in zip(doomed, deleted, strict=True):
            for manifest, ok in zip(manifests, gone, strict=True):
                if ok:
                    result.manifests_deleted.append((name, manifest.digest))
                    result.sizes[manifest.digest] = len(manifest.body)
                else:
                    result.restored.append(manifest.digest)
                    result.manifests_marked += 1
                    marked |= _named_by(manifest)
        result.blobs_marked = len(marked)
        if not dry_run:
            # Every in-process cache has looked at the markers since ours was written
            # (``gc.cache``): none answers from a look older than the first condemnation.
            await asyncio.sleep(max(0.0, LOOK_SECONDS + _CLOCK_MARGIN - (time.monotonic() - begun)))
        await _sweep(driver, marked, cutoff, started, cache, linked_by, result, report, fence)
        if purge_uploads_after is not None and not dry_run:
            result.uploads_purged = await purge_uploads(driver, purge_uploads_after)
        complete = True
    except* CollectionExpired as expired:
        # Raised in one of the parallel batches: reported as itself, not as a group.
        raise expired.exceptions[0] from None
    finally:
        swept = result.blobs_deleted if complete else None
        await _end(driver, marker, collection, started, swept)
    return result


async def collect(
    driver: StorageDriver,
    *,
    dry_run: bool = False,
    delete_untagged: bool = False,
    cache: BlobDescriptorCache | None = None,
    grace: timedelta = timedelta(0),
    keep_orphan_referrers: bool = False,
    progress: Progress | None = None,
    purge_uploads_after: timedelta | None = None,
) -> GCResult:
    """``collect_garbage`` under the names the ``dockyard gc`` command uses."""
    return await collect_garbage(
        driver,
        dry_run=dry_run,
        remove_untagged=delete_untagged,
        cache=cache,
        grace=grace,
        keep_orphan_referrers=keep_orphan_referrers,
        progress=progress,
        purge_uploads_after=purge_uploads_after,
    )


def _no_progress(phase: str, done: int, total: int | None) -> None:
    return None


def _no_fence() -> None:
    return None


async def _bounded(jobs: Iterable[Awaitable[T]]) -> list[T]:
    """Run ``jobs`` at most ``CONCURRENCY`` at a time; results in order."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(job: Awaitable[T]) -> T:
        async with gate:
            return await job

    # A failure cancels the others before it propagates: nothing goes on deleting after
    # the collection has ended and removed its marker.
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(job)) for job in jobs]
    return [task.result() for task in tasks]


# --- the marker and the writers' records --------------------------------------------------


async def _begin(driver: StorageDriver, marker: Marker | None, collection: str) -> datetime:
    """Start a collection: T0, as storage's clock stamps the marker (writers' clock too).
    Then take away the markers of collectors that died (their heartbeat is too old)."""
    if marker is None:
        return datetime.now(UTC)
    # File systems stamp times from a coarse clock: waiting past one tick makes everything
    # written before the collection was started strictly older than its T0.
    await asyncio.sleep(_CLOCK_TICK)
    started = await marker.write()
    try:
        await remove_dead_markers(driver, started, collection)
    except BaseException:
        await _end(driver, marker, collection, started, [])
        raise
    return started


async def _end(
    driver: StorageDriver,
    marker: Marker | None,
    collection: str,
    started: datetime,
    swept: list[Digest] | None,
) -> None:
    """Journal what was swept (None: unknown), then remove the marker, and the writers'
    records unless another collection runs."""
    if marker is None:
        return
    await marker.stop()
    name = journal_name(started, collection)
    await write_journal(driver, name, swept, await collections(driver))
    with contextlib.suppress(PathNotFound):
        await driver.delete(paths.gc_marker(collection))
    if not await collecting(driver):
        # Records written from now on are older than any later collection's T0: ignored.
        with contextlib.suppress(PathNotFound):
            await driver.delete(paths.GC_IN_USE)


# --- mark ---------------------------------------------------------------------------------


async def _mark_repository(
    driver: StorageDriver,
    name: str,
    remove_untagged: bool,
    keep_orphan_referrers: bool,
    cutoff: datetime,
    dry_run: bool,
) -> _Repository:
    """Mark what repository ``name`` keeps: two listings (revision links, layer links) and
    one plan reading every manifest body, whatever the number of manifests."""
    found = _Repository(name)
    linked, leftovers = await _leaf_links(driver, paths.manifest_revisions_dir(name))
    if leftovers and not dry_run:
        # Left by a collector that stopped half-way: undecided, so back they go.
        moves = [
            (paths.condemned_revision_link(name, d), paths.manifest_revision_link(name, d))
            for d in leftovers
        ]
        await driver.run(lambda: _restore_all(moves))
        for digest, moment in leftovers.items():
            linked.setdefault(digest, moment)
    digests = sorted(linked)
    bodies = await driver.run(lambda: _read_manifests(name, digests))
    manifests: dict[Digest, Manifest] = {}
    for digest, (body, filed) in zip(digests, bodies, strict=True):
        if body is None:
            continue
        try:
            manifests[digest] = await _parse_stored(driver, name, digest, body, filed)
        except (ManifestInvalid, ManifestUnverified):
            # Not understood (say, an unsigned schema1 payload the reference stored):
            # keep it and everything it seems to name, never sweep on a guess.
            found.manifests_marked += 1
            found.marked.add(digest)
            found.marked.update(_digests_named_in(body))
    keep = set(manifests)
    if remove_untagged:
        tags = StorageTags(name, driver)
        roots = set((await tags.current()).values())
        if keep_orphan_referrers:
            roots |= {
                d for d, m in manifests.items() if m.subject and m.subject.digest not in manifests
            }
        keep = _reachable_from(roots, manifests)
        for digest in set(manifests) - keep:
            if linked[digest] < cutoff:
                found.doomed[digest] = manifests[digest]
            else:
                keep.add(digest)
    for digest in keep:
        found.manifests_marked += 1
        found.marked |= _named_by(manifests[digest])
    layers, _ = await _leaf_links(driver, paths.layers_dir(name))
    found.links = {digest: moment >= cutoff for digest, moment in layers.items()}
    return found


def _named_by(manifest: Manifest) -> set[Digest]:
    """The manifest's own body, its blobs and its child manifests."""
    named = {manifest.digest}
    named.update(d.digest for d in manifest.blob_references)
    named.update(d.digest for d in manifest.manifests)
    return named


async def _leaf_links(
    driver: StorageDriver, folder: str
) -> tuple[dict[Digest, datetime], dict[Digest, datetime]]:
    """The links filed as ``folder/<alg>/<hex>/link`` with their times, and the ones a
    collector moved aside (``.../condemned``), from one walk (one listing on S3)."""
    links: dict[Digest, datetime] = {}
    condemned: dict[Digest, datetime] = {}
    with contextlib.suppress(PathNotFound):
        async for info in driver.walk(folder):
            if info.is_dir:
                continue
            parts = info.path.rsplit("/", 3)
            if parts[-1] == "link":
                into = links
            elif parts[-1] == "condemned":
                into = condemned
            else:
                continue
            try:
                digest = Digest.parse(f"{parts[-3]}:{parts[-2]}")
            except (ValueError, DigestInvalid):
                continue
            into[digest] = max(info.mod_time, into.get(digest, info.mod_time))
    return links, condemned


def _read_manifests(
    name: str, digests: Sequence[Digest]
) -> Plan[list[tuple[bytes | None, bytes | None]]]:
    """Plan: each manifest's stored body and filed descriptor (None where absent)."""
    found: list[tuple[bytes | None, bytes | None]] = yield Each(
        [functools.partial(_read_manifest, name, digest) for digest in digests]
    )
    return found


def _read_manifest(name: str, digest: Digest) -> Plan[tuple[bytes | None, bytes | None]]:
    body: bytes | None = yield Read(paths.blob_data(digest))
    filed: bytes | None = (
        None if body is None else (yield Read(paths.manifest_descriptor(name, digest)))
    )
    return body, filed


def _restore_all(moves: Sequence[tuple[str, str]]) -> Plan[None]:
    """Plan: move each condemned file back (one a writer restored already is skipped)."""
    for condemned, path in moves:
        with contextlib.suppress(PathNotFound):
            yield Move(condemned, path)


def _digests_named_in(body: bytes) -> set[Digest]:
    """Every digest a manifest's JSON names under ``digest`` or ``blobSum``."""
    try:
        raw = json.loads(body)
    except ValueError:
        return set()
    found: set[Digest] = set()
    pending: list[Any] = [raw]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if key in ("digest", "blobSum") and isinstance(item, str) and is_digest(item):
                    found.add(Digest.parse(item))
                else:
                    pending.append(item)
        elif isinstance(value, list):
            pending.extend(value)
    return found


def _reachable_from(roots: set[Digest], manifests: dict[Digest, Manifest]) -> set[Digest]:
    """Manifests reachable from ``roots`` via index children and referrers."""
    referrers: dict[Digest, list[Digest]] = {}
    for digest, manifest in manifests.items():
        if manifest.subject is not None:
            referrers.setdefault(manifest.subject.digest, []).append(digest)
    reachable: set[Digest] = set()
    pending = [d for d in roots if d in manifests]
    while pending:
        digest = pending.pop()
        if digest in reachable:
            continue
        reachable.add(digest)
        pending.extend(d.digest for d in manifests[digest].manifests if d.digest in manifests)
        pending.extend(referrers.get(digest, []))
    return reachable


# --- deleting untagged manifests ----------------------------------------------------------


async def _delete_manifests(
    driver: StorageDriver,
    name: str,
    manifests: list[Manifest],
    started: datetime,
    dry_run: bool,
    fence: Callable[[], None],
) -> list[bool]:
    """Delete unreachable manifests of ``name`` unless a writer used or tagged them meanwhile.

    Returns whether each was deleted. Their revision links are moved aside first, then the
    tags and the writers' records are read: a push of the same manifest since T0 either
    finds its link gone and puts it back, or has recorded it and the link comes back here.
    For the whole repository: two or three plans, one reading of its tags and one of the
    records, and the condemned links and referrers entries go in one batch delete each.
    """
    if dry_run:
        return [True] * len(manifests)
    digests = [manifest.digest for manifest in manifests]
    fence()
    moved = await driver.run(lambda: _condemn_revisions(name, digests))
    tagged = set((await StorageTags(name, driver).current()).values())
    kept = tagged | await _recorded_since(driver, started)
    condemned = [m for m, ok in zip(manifests, moved, strict=True) if ok]
    restore = [m.digest for m in condemned if m.digest in kept]
    doomed = [m for m in condemned if m.digest not in kept]
    if restore:
        moves = [
            (paths.condemned_revision_link(name, d), paths.manifest_revision_link(name, d))
            for d in restore
        ]
        await driver.run(lambda: _restore_all(moves))
    gone: dict[Digest, bool] = dict.fromkeys(restore, False)
    if doomed:
        await driver.delete_many([paths.condemned_revision_link(name, m.digest) for m in doomed])
        settled = await _forget_revisions(driver, name, [m.digest for m in doomed])
        gone.update(zip((m.digest for m in doomed), settled, strict=True))
        referrers = [
            paths.referrer_descriptor(name, m.subject.digest, m.digest)
            for m, deleted in zip(doomed, settled, strict=True)
            if deleted and m.subject is not None
        ]
        if referrers:
            await driver.delete_many(referrers)
    # A link gone before it was condemned was deleted by someone else meanwhile.
    return [gone.get(digest, True) for digest in digests]


def _condemn_revisions(name: str, digests: Sequence[Digest]) -> Plan[list[bool]]:
    """Plan: move each revision link aside (all at once); whether it was there to move."""
    moved: list[bool] = yield Each(
        [functools.partial(_condemn_revision, name, digest) for digest in digests]
    )
    return moved


def _condemn_revision(name: str, digest: Digest) -> Plan[bool]:
    try:
        yield Move(
            paths.manifest_revision_link(name, digest),
            paths.condemned_revision_link(name, digest),
            durability="none",
        )
    except PathNotFound:
        return False
    return True


async def _forget_revisions(
    driver: StorageDriver, name: str, digests: Sequence[Digest]
) -> list[bool]:
    """For each manifest whose condemned revision link was deleted, delete what is left of
    its revision folder and its filed descriptor's folder, unless it was pushed again
    meanwhile (a revision link is there again); whether each was deleted.

    Two walks per manifest, all at once (one listing each on S3), and one batch delete for
    the repository, in place of a read and two folder deletes per manifest (on S3 a HEAD,
    a listing, a ``DeleteObjects`` and a listing of multipart uploads each). Only the
    files the walks found go: a revision link a push writes after them stays, and one
    written before them keeps its manifest whole.
    """
    folders = [
        (paths.manifest_revision_dir(name, d), parent_of(paths.manifest_descriptor(name, d)))
        for d in digests
    ]
    found = await asyncio.gather(
        *(_files_below(driver, folder) for pair in folders for folder in pair)
    )
    settled: list[bool] = []
    doomed: list[str] = []
    for number in range(len(digests)):
        revision, descriptor = found[2 * number], found[2 * number + 1]
        if any(path.endswith("/link") for path in revision):
            settled.append(False)  # pushed again meanwhile: its descriptor and entry stay
            continue
        settled.append(True)
        doomed += revision + descriptor
    if doomed:
        await driver.delete_many(doomed)
    return settled


async def _files_below(driver: StorageDriver, folder: str) -> list[str]:
    """Every file below ``folder``, from one walk (one listing on S3)."""
    with contextlib.suppress(PathNotFound):
        return [info.path async for info in driver.walk(folder) if not info.is_dir]
    return []


# --- sweep --------------------------------------------------------------------------------


async def _sweep(
    driver: StorageDriver,
    marked: set[Digest],
    cutoff: datetime,
    started: datetime,
    cache: BlobDescriptorCache | None,
    linked_by: dict[Digest, list[str]],
    result: GCResult,
    report: Progress,
    fence: Callable[[], None],
) -> None:
    candidates: list[tuple[Digest, int]] = []
    leftovers: list[Digest] = []
    async for info in _blob_files(driver):
        if info.path.endswith("/condemned"):
            digest = paths.blob_digest_from_data_path(info.path.removesuffix("condemned") + "data")
            if digest is not None:
                leftovers.append(digest)
                continue
        digest = paths.blob_digest_from_data_path(info.path)
        if digest is None:
            # Not the layout's: someone else's file. Reported, never swept on a guess.
            stray = info.path.removeprefix(paths.BLOBS + "/")
            logger.warning("gc: skipping %s under blobs/: not a blob's content", stray)
            result.strays.append(stray)
            continue
        if digest not in marked and info.mod_time < cutoff:
            candidates.append((digest, info.size))
        else:
            result.blobs_kept += 1
            result.bytes_kept += info.size
    result.strays.sort()
    if not result.dry_run and leftovers:
        # A collector that stopped half-way left them undecided: they go back.
        moves = [_condemned_and_data(d) for d in leftovers]
        await driver.run(lambda: _restore_all(moves))
    candidates.sort()
    done = 0

    async def sweep(batch: list[tuple[Digest, int]]) -> None:
        nonlocal done
        digests = [digest for digest, _ in batch]
        if result.dry_run:
            deleted = [True] * len(batch)
        else:
            deleted = await _sweep_blobs(driver, digests, started, cache, linked_by, fence)
        for (digest, size), gone in zip(batch, deleted, strict=True):
            if gone:
                result.blobs_deleted.append(digest)
                result.sizes[digest] = size
                result.bytes_freed += size
            else:
                result.restored.append(digest)
                result.blobs_kept += 1
                result.bytes_kept += size
        done += len(batch)
        report("sweep", done, len(candidates))

    batches = [candidates[i : i + SWEEP_BATCH] for i in range(0, len(candidates), SWEEP_BATCH)]
    await _bounded(sweep(batch) for batch in batches)
    result.blobs_deleted.sort()


async def _blob_files(driver: StorageDriver) -> AsyncIterator[FileInfo]:
    """Every file under ``blobs/``: the folders below ``blobs/<alg>/`` are walked
    ``CONCURRENCY`` at a time (many listings in flight on S3), and only what turns out to
    be no folder is looked at again (a stray file)."""

    async def children(folder: str) -> list[str]:
        with contextlib.suppress(PathNotFound):
            return await driver.list(folder)
        return []

    async def walk(path: str) -> list[FileInfo]:
        with contextlib.suppress(PathNotFound):
            return [info async for info in driver.walk(path) if not info.is_dir]
        with contextlib.suppress(PathNotFound):
            info = await driver.stat(path)
            if not info.is_dir:
                return [info]
        return []

    tops = await children(paths.BLOBS)
    below = await _bounded(children(top) for top in tops)
    for top, names in zip(tops, below, strict=True):
        if not names:
            for info in await walk(top):  # a stray file, or nothing
                yield info
    folders = [name for names in below for name in names]
    for start in range(0, len(folders), CONCURRENCY):
        for files in await asyncio.gather(*map(walk, folders[start : start + CONCURRENCY])):
            for info in files:
                yield info


async def _sweep_blobs(
    driver: StorageDriver,
    digests: list[Digest],
    started: datetime,
    cache: BlobDescriptorCache | None,
    linked_by: dict[Digest, list[str]],
    fence: Callable[[], None],
) -> list[bool]:
    """Condemn, forget, re-check, then delete or restore each blob; which were deleted.

    Each step is one request or plan for the whole batch (one worker-thread hop on local
    storage, one ``DeleteObjects`` on S3 for the deletes); for every blob the steps still
    come in the order the argument needs.
    """
    fence()
    condemned = await driver.run(lambda: _condemn(digests))
    moved = [digest for digest, ok in zip(digests, condemned, strict=True) if ok]
    if cache is not None:
        # Forgotten after the move and before the re-check: an "exists" answered from the
        # cache either came before (and its writer's record is seen below) or not at all.
        await asyncio.gather(
            *(_forget(cache, digest, linked_by.get(digest, [])) for digest in moved)
        )
    recorded = await _recorded_since(driver, started)
    kept = [digest for digest in moved if digest in recorded]
    doomed = [digest for digest in moved if digest not in recorded]
    if kept:
        await driver.run(lambda: _restore_all([_condemned_and_data(d) for d in kept]))
    if doomed:
        await driver.delete_many([paths.condemned_blob(digest) for digest in doomed])
    # A writer that recorded a blob after the re-check may have moved it back before the
    # delete (a batch delete does not say which files it found): its data tells.
    recorded_late = await _recorded_since(driver, started) if doomed else set()
    late = [digest for digest in doomed if digest in recorded_late]
    back = set(await _present(driver, late)) if late else set()
    deleted = {digest for digest in doomed if digest not in back}
    return [digest in deleted for digest in digests]


def _condemned_and_data(digest: Digest) -> tuple[str, str]:
    return paths.condemned_blob(digest), paths.blob_data(digest)


async def _present(driver: StorageDriver, digests: Sequence[Digest]) -> list[Digest]:
    """The blobs among ``digests`` whose data is in place."""
    sizes = await driver.run(lambda: _data_sizes(digests))
    return [digest for digest, size in zip(digests, sizes, strict=True) if size is not None]


def _data_sizes(digests: Sequence[Digest]) -> Plan[list[int | None]]:
    sizes: list[int | None] = []
    for digest in digests:
        sizes.append((yield Size(paths.blob_data(digest))))
    return sizes


async def _forget(cache: BlobDescriptorCache, digest: Digest, repositories: list[str]) -> None:
    await cache.clear(digest)
    for name in repositories:
        scoped = cache.repository(name)
        if scoped is not None:
            await scoped.clear(digest)


def _condemn(digests: Sequence[Digest]) -> Plan[list[bool]]:
    """Plan: move each blob's content aside; whether it was there to move."""
    moved: list[bool] = yield Each([functools.partial(_condemn_one, d) for d in digests])
    return moved


def _condemn_one(digest: Digest) -> Plan[bool]:
    try:
        # A condemnation a crash undoes leaves the blob in place, undecided: kept.
        yield Move(paths.blob_data(digest), paths.condemned_blob(digest), durability="none")
    except PathNotFound:
        return False
    return True


async def _recorded_since(driver: StorageDriver, started: datetime) -> set[Digest]:
    """Every digest a writer recorded as in use since ``started``: one walk of the records
    (one listing on S3), read after the content in question was condemned."""
    recorded: set[Digest] = set()
    with contextlib.suppress(PathNotFound):
        async for info in driver.walk(paths.GC_IN_USE):
            if info.is_dir or info.mod_time < started:
                continue
            algorithm, _, hex_part = info.path.removeprefix(paths.GC_IN_USE + "/").partition("/")
            with contextlib.suppress(ValueError, DigestInvalid):
                recorded.add(Digest.parse(f"{algorithm}:{hex_part}"))
    return recorded
