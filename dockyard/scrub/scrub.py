"""Scrubbing: checking a storage root's integrity while it serves, and repairing it.

``scrub`` walks the chosen repositories in name order and checks that every tag points at
a stored manifest, every manifest revision's link names its own digest and its body
parses, every blob and child manifest it references is there (with the size it declares),
and every blob link points at stored content; then, with ``check="digests"``, that every
blob of those repositories hashes to its digest. A checkpoint in storage
(``_dockyard/scrub/checkpoint``) records the repositories done, so an interrupted scrub
resumes where it stopped. ``repair`` moves corrupt content into
``_dockyard/quarantine/`` and removes the links to it, so that the next push uploads it
again; nothing else is changed. Each repair is journaled before and after it is made
(``dockyard.scrub.journal``), and a repair an interrupted scrub left half-done is finished
by the next repairing scrub.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from dockyard.digest import Digest
from dockyard.errors import DockyardError
from dockyard.manifest.base import Manifest
from dockyard.scrub.journal import Repair, RepairJournal, journals
from dockyard.scrub.report import ScrubRun, record_scrub
from dockyard.storage import paths
from dockyard.storage.cache.base import BlobDescriptorCache
from dockyard.storage.catalog import repository_names
from dockyard.storage.driver.base import PathNotFound, StorageDriver
from dockyard.storage.manifests import load_manifest, revisions
from dockyard.storage.referrers import list_leaf_digests
from dockyard.storage.tags import StorageTags

Check = Literal["sizes", "digests"]

CHECKPOINT = f"{paths.DOCKYARD}/scrub/checkpoint"
QUARANTINE = f"{paths.DOCKYARD}/quarantine"
#: Hash chunks at least this large in a worker thread, not on the event loop.
_THREAD_HASH_MIN = 256 * 1024

#: Called with the repository being scrubbed, how many are done, and how many in all.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing found wrong: what kind, where, and what was done about it."""

    kind: str
    repository: str
    subject: str
    detail: str
    repaired: bool = False

    def __str__(self) -> str:
        where = f"{self.repository}: " if self.repository else ""
        done = " (repaired)" if self.repaired else ""
        return f"{self.kind} {where}{self.subject}: {self.detail}{done}"


@dataclass(slots=True)
class ScrubResult:
    """What a scrub checked and found."""

    repositories: int = 0
    manifests: int = 0
    blobs: int = 0
    bytes_hashed: int = 0
    resumed_after: str | None = None
    problems: list[Problem] = field(default_factory=list)
    #: Repairs an interrupted scrub left half-done that this one finished.
    repairs_resumed: int = 0

    def __str__(self) -> str:
        text = (
            f"{self.repositories} repositories, {self.manifests} manifests and "
            f"{self.blobs} blobs checked ({self.bytes_hashed} bytes hashed); "
            f"{len(self.problems)} problems"
        )
        if self.resumed_after:
            text += f" (resumed after {self.resumed_after})"
        if self.repairs_resumed:
            text += f"; {self.repairs_resumed} interrupted repairs finished"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "repositories": self.repositories,
            "manifests": self.manifests,
            "blobs": self.blobs,
            "bytes_hashed": self.bytes_hashed,
            "resumed_after": self.resumed_after,
            "repairs_resumed": self.repairs_resumed,
            "problems": [
                {
                    "kind": p.kind,
                    "repository": p.repository,
                    "subject": p.subject,
                    "detail": p.detail,
                    "repaired": p.repaired,
                }
                for p in self.problems
            ],
        }


class RateLimit:
    """Keeps reading at or below ``bytes_per_second`` (None: as fast as storage goes)."""

    def __init__(self, bytes_per_second: float | None) -> None:
        self.rate = bytes_per_second
        self.started = time.monotonic()
        self.read = 0

    async def consumed(self, size: int) -> None:
        if self.rate is None:
            return
        self.read += size
        ahead = self.read / self.rate - (time.monotonic() - self.started)
        if ahead > 0:
            await asyncio.sleep(ahead)


async def scrub(
    driver: StorageDriver,
    *,
    repository: str | None = None,
    check: Check = "sizes",
    rate: float | None = None,
    repair: bool = False,
    cache: BlobDescriptorCache | None = None,
    progress: Progress | None = None,
) -> ScrubResult:
    """Check (and with ``repair`` mend) the repositories matching the glob ``repository``.

    ``rate`` limits hashing to that many bytes per second. Safe while the registry serves.
    """
    started = datetime.now(UTC)
    result = ScrubResult()
    names = sorted(n for n in await repository_names(driver) if _matches(n, repository))
    checkpoint = await _checkpoint(driver, repository, check)
    if checkpoint is not None:
        result.resumed_after = checkpoint
        names = [n for n in names if n > checkpoint]
    limit = RateLimit(rate)
    hashed: dict[Digest, bool] = {}
    journal = RepairJournal.begin(started, [repository, check]) if repair else None
    if journal is not None:
        await journal.save(driver)
        await _resume_repairs(driver, journal, limit, cache, hashed, result)
    for done, name in enumerate(names, start=1):
        await _scrub_repository(driver, name, check, limit, journal, cache, hashed, result)
        result.repositories += 1
        await _save_checkpoint(driver, repository, check, name)
        if progress is not None:
            progress(name, done, len(names))
    with contextlib.suppress(PathNotFound):
        await driver.delete(CHECKPOINT)
    if journal is not None:
        await journal.finish(driver)
    ended = datetime.now(UTC)
    run = ScrubRun.of(
        result, check=check, repair=repair, selection=repository, started=started, ended=ended
    )
    await record_scrub(driver, run)
    return result


def _matches(name: str, pattern: str | None) -> bool:
    return pattern is None or fnmatch.fnmatchcase(name, pattern)


async def _checkpoint(driver: StorageDriver, pattern: str | None, check: Check) -> str | None:
    """The last repository an interrupted scrub of the same selection finished."""
    try:
        saved = json.loads(await driver.get_content(CHECKPOINT))
    except (PathNotFound, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("selection") != [pattern, check]:
        return None
    last = saved.get("last")
    return last if isinstance(last, str) else None


async def _save_checkpoint(
    driver: StorageDriver, pattern: str | None, check: Check, last: str
) -> None:
    body = {"selection": [pattern, check], "last": last, "at": datetime.now(UTC).isoformat()}
    await driver.put_content(CHECKPOINT, json.dumps(body).encode())


async def _scrub_repository(
    driver: StorageDriver,
    name: str,
    check: Check,
    limit: RateLimit,
    journal: RepairJournal | None,
    cache: BlobDescriptorCache | None,
    hashed: dict[Digest, bool],
    result: ScrubResult,
) -> None:
    problems = result.problems
    stored = set(await revisions(driver, name))
    for tag, digest in sorted((await StorageTags(name, driver).current()).items()):
        if digest not in stored:
            problems.append(Problem("tag", name, tag, f"points at {digest}, not stored"))
    declared: dict[Digest, int] = {}
    for digest in sorted(stored):
        result.manifests += 1
        manifest = await _check_revision(driver, name, digest, stored, problems)
        if manifest is None:
            continue
        for reference in manifest.blob_references:
            declared.setdefault(reference.digest, reference.size)
            if not await _exists(driver, paths.layer_link(name, reference.digest)):
                problems.append(
                    Problem("manifest", name, str(digest), f"blob {reference.digest} not linked")
                )
    linked = await list_leaf_digests(driver, paths.layers_dir(name))
    for digest in linked:
        result.blobs += 1
        size = declared.get(digest)
        problem = await _check_blob(driver, name, digest, size, check, limit, hashed, result)
        if problem is None:
            continue
        if journal is not None:
            problem = await _repair(driver, journal, problem, digest, size, cache)
        problems.append(problem)


async def _repair(
    driver: StorageDriver,
    journal: RepairJournal,
    problem: Problem,
    digest: Digest,
    declared_size: int | None,
    cache: BlobDescriptorCache | None,
) -> Problem:
    """Quarantine corrupt content and remove the repository's link to it, journaled
    before and after; the problem, repaired."""
    name = problem.repository
    corrupt = problem.kind in ("corrupt", "size")
    target = _quarantine_path(digest) if corrupt else None
    entry = Repair(name, str(digest), problem.kind, problem.detail, target, declared_size)
    await journal.intend(driver, entry)
    if target is not None:
        await _quarantine(driver, digest, target, cache)
    # Without the link the next push uploads the blob again.
    await _unlink(driver, name, digest, cache)
    await journal.done(driver, entry)
    return Problem(problem.kind, name, problem.subject, problem.detail, True)


async def _resume_repairs(
    driver: StorageDriver,
    journal: RepairJournal,
    limit: RateLimit,
    cache: BlobDescriptorCache | None,
    hashed: dict[Digest, bool],
    result: ScrubResult,
) -> None:
    """Finish the repairs interrupted scrubs journaled but did not finish: each is checked
    again, and repaired (under ``journal``) if it still needs it."""
    for old in await journals(driver):
        if old.complete or old.name == journal.name:
            continue
        for entry in old.repairs:
            if entry.state == "done":
                continue
            digest = Digest.parse(entry.digest)
            check: Check = "digests" if entry.kind == "corrupt" else "sizes"
            size = entry.declared_size
            problem = await _check_blob(
                driver, entry.repository, digest, size, check, limit, hashed, result
            )
            if problem is not None:
                # A quarantine done but not its unlink is found as a dangling link here.
                repaired = await _repair(driver, journal, problem, digest, size, cache)
                result.problems.append(repaired)
            result.repairs_resumed += 1
        old.complete, old.resumed_by = True, journal.name
        await old.save(driver)
        journal.resumed.append(old.name)
        await journal.save(driver)


async def _check_revision(
    driver: StorageDriver,
    name: str,
    digest: Digest,
    stored: set[Digest],
    problems: list[Problem],
) -> Manifest | None:
    """Check one revision link, body and children; its parse if it has one."""
    subject = str(digest)
    try:
        content = await driver.get_content(paths.manifest_revision_link(name, digest))
        if content.decode("ascii", "replace").strip() != subject:
            problems.append(Problem("manifest", name, subject, "its link names another digest"))
    except PathNotFound:
        problems.append(Problem("manifest", name, subject, "revision without a link"))
        return None
    try:
        manifest = await load_manifest(driver, name, digest)
    except (DockyardError, ValueError) as error:
        problems.append(Problem("manifest", name, subject, f"does not parse ({error})"))
        return None
    if manifest is None:
        problems.append(Problem("manifest", name, subject, "its body is not stored"))
        return None
    for child in manifest.manifests:
        if child.digest not in stored:
            problems.append(Problem("manifest", name, subject, f"child {child.digest} not stored"))
    return manifest


async def _check_blob(
    driver: StorageDriver,
    name: str,
    digest: Digest,
    size: int | None,
    check: Check,
    limit: RateLimit,
    hashed: dict[Digest, bool],
    result: ScrubResult,
) -> Problem | None:
    """Check one linked blob: link, content, size and (``digests``) its hash."""
    subject = str(digest)
    try:
        link = await driver.get_content(paths.layer_link(name, digest))
        if link.decode("ascii", "replace").strip() != subject:
            return Problem("link", name, subject, "the link names another digest")
    except PathNotFound:
        return None
    try:
        info = await driver.stat(paths.blob_data(digest))
    except PathNotFound:
        return Problem(
            "link", name, subject, "points at content that is not stored (or moved aside)"
        )
    if size is not None and info.size != size:
        return Problem("size", name, subject, f"{info.size} bytes stored, manifests say {size}")
    if check != "digests":
        return None
    if digest not in hashed:
        hashed[digest] = await _hashes_to(driver, digest, limit, result)
    if not hashed[digest]:
        return Problem("corrupt", name, subject, "the content does not hash to its digest")
    return None


async def _hashes_to(
    driver: StorageDriver, digest: Digest, limit: RateLimit, result: ScrubResult
) -> bool:
    try:
        hasher = hashlib.new(digest.algorithm)
    except ValueError:
        return True  # an algorithm this Python cannot compute: not judged
    try:
        stream = await driver.reader(paths.blob_data(digest))
        async for chunk in stream:
            if len(chunk) >= _THREAD_HASH_MIN:
                await asyncio.to_thread(hasher.update, chunk)
            else:
                hasher.update(chunk)
            result.bytes_hashed += len(chunk)
            await limit.consumed(len(chunk))
    except PathNotFound:
        return True  # collected meanwhile: nothing left to be corrupt
    return hasher.hexdigest() == digest.hex


def _quarantine_path(digest: Digest) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{QUARANTINE}/{digest.algorithm}/{digest.hex}/{stamp}"


async def _quarantine(
    driver: StorageDriver, digest: Digest, target: str, cache: BlobDescriptorCache | None
) -> None:
    """Move corrupt content aside to ``target`` (kept for inspection), and forget it in
    the cache."""
    with contextlib.suppress(PathNotFound):
        await driver.move(paths.blob_data(digest), target)
    if cache is not None:
        await cache.clear(digest)


async def _unlink(
    driver: StorageDriver, name: str, digest: Digest, cache: BlobDescriptorCache | None
) -> None:
    with contextlib.suppress(PathNotFound):
        await driver.delete(paths.layer_dir(name, digest))
    scoped = cache.repository(name) if cache is not None else None
    if scoped is not None:
        await scoped.clear(digest)


async def _exists(driver: StorageDriver, path: str) -> bool:
    try:
        await driver.stat(path)
    except PathNotFound:
        return False
    return True
