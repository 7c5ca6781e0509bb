"""The writers' side of online collection: record what is used, and make sure it is there.

While a collection runs (a marker exists under ``paths.GC_COLLECTING``), every operation
that makes a blob or a manifest needed (a blob linked by an upload or a mount, a blob
answered "exists", a manifest stored with its references) records each digest under
``paths.GC_IN_USE`` and then makes sure the content is in place, moving a condemned copy
back if the collector had moved it aside. The collector reads the records only after it
has moved content aside, so either it sees the record and restores, or the writer sees
the content gone and fails cleanly. ``docs/collection.md`` has the whole argument.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.errors import BlobUnknown, ManifestBlobUnknown
from dockyard.gc.journal import Collections, collections
from dockyard.manifest.base import Manifest
from dockyard.storage import paths
from dockyard.storage.driver.base import PathNotFound, StorageDriver
from dockyard.storage.protocols import BlobContent, Blobs

#: How often a writer retries finding content that a restore is moving back right now.
_ENSURE_ATTEMPTS = 3


async def collecting(driver: StorageDriver) -> bool:
    """Whether a collection is running (a fresh look, see ``journal.collections``)."""
    return (await collections(driver)).running


async def hold(
    driver: StorageDriver,
    blobs: Iterable[Digest],
    revisions: Sequence[tuple[str, Digest]] = (),
    *,
    published: bool = True,
    since: Collections | None = None,
) -> list[Digest]:
    """Record ``blobs`` and manifest ``revisions`` as in use and make sure they exist.

    Returns the digests that are gone (a collector deleted them first); empty when all
    are in place. Call it after the operation's own write (``published``) or check.
    After a write, the content is checked even when no collection runs now: one may have
    run, and ended, since the writer last looked — unless the writer looked (``since``)
    before its own check of the content in storage, and no collection ran then and none
    has finished since (the journals are the same). After a mere check (a HEAD), it is
    checked again only while a collection runs.
    """
    wanted = list(dict.fromkeys(blobs))
    now = await collections(driver)
    if now.running:
        records = dict.fromkeys([*wanted, *(digest for _, digest in revisions)])
        await asyncio.gather(*(driver.put_content(paths.gc_in_use(d), b"") for d in records))
    elif not published or _unchanged(since, now):
        return []
    present = await asyncio.gather(
        *(_ensure(driver, paths.blob_data(d), paths.condemned_blob(d)) for d in wanted),
        *(
            _ensure(
                driver,
                paths.manifest_revision_link(name, d),
                paths.condemned_revision_link(name, d),
            )
            for name, d in revisions
        ),
    )
    every = wanted + [digest for _, digest in revisions]
    return list(dict.fromkeys(d for d, ok in zip(every, present, strict=True) if not ok))


def _unchanged(since: Collections | None, now: Collections) -> bool:
    """Whether no collection ran at ``since`` or now, and none finished in between."""
    return since is not None and not since.running and since.journals == now.journals


async def hold_blob(
    driver: StorageDriver,
    digest: Digest,
    *,
    published: bool = True,
    since: Collections | None = None,
) -> None:
    """``hold`` one blob; ``BlobUnknown`` if a collector removed it first. ``since``: as
    for ``hold``, the look taken before the writer's own check of the blob in storage."""
    if not published and not (await collections(driver)).running:
        # The check of every HEAD: one look, answered from the driver's memory while no
        # collection runs, and nothing else to do (``hold`` would find the same).
        return
    if await hold(driver, [digest], published=published, since=since):
        raise BlobUnknown(digest)


async def hold_manifest(
    driver: StorageDriver,
    name: str,
    manifest: Manifest,
    children: Sequence[Digest],
    since: Collections | None = None,
) -> None:
    """``hold`` a manifest just stored in ``name``: its body, blobs and the child manifests
    the validation policy required to exist (``children``; an index accepted with
    ``validation.manifests.indexes.platforms: none`` may name children never pushed).

    If any is gone, the revision is unlinked again and ``ManifestBlobUnknown`` raised: a
    stored manifest never names content a collector removed. ``since`` is the look taken
    before the manifest's references were checked in storage (see ``hold``).
    """
    blobs = [manifest.digest, *(d.digest for d in manifest.blob_references)]
    revisions = [(name, digest) for digest in children]
    missing = await hold(driver, [*blobs, *children], revisions, since=since)
    if missing:
        with contextlib.suppress(PathNotFound):
            await driver.delete(paths.manifest_revision_link(name, manifest.digest))
        raise ManifestBlobUnknown(missing)


async def revive(driver: StorageDriver, digest: Digest) -> bool:
    """Move a blob a running collection condemned back, recorded first; whether it was."""
    if not await collecting(driver):
        return False
    await driver.put_content(paths.gc_in_use(digest), b"")
    try:
        await driver.move(paths.condemned_blob(digest), paths.blob_data(digest))
    except PathNotFound:
        return False
    return True


async def _ensure(driver: StorageDriver, path: str, condemned: str) -> bool:
    """Whether ``path`` exists, moving ``condemned`` back to it if it was moved aside."""
    for _ in range(_ENSURE_ATTEMPTS):
        try:
            await driver.stat(path)
            return True
        except PathNotFound:
            pass
        try:
            await driver.move(condemned, path)
            return True
        except PathNotFound:
            # Not condemned (deleted), or restored by the collector between the two looks.
            continue
    return False


class GuardedBlobs:
    """A repository's ``Blobs`` whose "exists" answers are held against a collection
    (implements ``protocols.Blobs``): a HEAD that said yes is never swept after."""

    def __init__(self, inner: Blobs, driver: StorageDriver) -> None:
        self.inner = inner
        self.driver = driver

    async def stat(self, digest: Digest) -> Descriptor:
        try:
            descriptor = await self.inner.stat(digest)
        except BlobUnknown:
            # Condemned by a running collection: moved back, and used from now on.
            if not await revive(self.driver, digest):
                raise
            descriptor = await self.inner.stat(digest)
        await hold_blob(self.driver, digest, published=False)
        return descriptor

    async def open(
        self,
        digest: Digest,
        offset: int = 0,
        length: int | None = None,
        *,
        allow_redirect: bool = False,
        method: str = "GET",
    ) -> BlobContent:
        return await self.inner.open(
            digest, offset, length, allow_redirect=allow_redirect, method=method
        )

    async def put(self, data: bytes, media_type: str = "application/octet-stream") -> Descriptor:
        return await self.inner.put(data, media_type)

    async def mount(self, digest: Digest, source: str) -> Descriptor:
        return await self.inner.mount(digest, source)

    async def delete(self, digest: Digest) -> None:
        await self.inner.delete(digest)
