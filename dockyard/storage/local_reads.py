"""Several small reads of a local driver in one worker-thread hop, or none at all.

A manifest GET by tag reads the tag's link, checks the revision link and reads the
filed descriptor: three tiny files. Through the async driver interface that is three
thread hand-offs, each costing more than the read itself. Drivers over local storage
offer blocking reads (``StorageDriver.blocking_reads``), so these reads can run back to
back in one worker thread instead; and where the driver also keeps a memo of such reads
that the kernel keeps true (``StorageDriver.read_memo``), a request whose files did not
change is answered on the event loop without a thread hop. Other drivers give None and
the callers use the async interface. The paths come from the path mapper, built from
validated names, tags and digests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from dockyard.digest import Digest
from dockyard.errors import DigestInvalid
from dockyard.storage import paths
from dockyard.storage.driver.base import BlockingReads, StorageDriver
from dockyard.storage.driver.read_memo import ReadMemo

T = TypeVar("T")


class LocalReads:
    """Reads of links, revisions and descriptors through a driver's blocking reads."""

    def __init__(self, files: BlockingReads, memo: ReadMemo | None = None) -> None:
        self.files = files
        self.memo = memo

    @classmethod
    def for_driver(cls, driver: StorageDriver) -> LocalReads | None:
        """Local reads for ``driver`` when it offers blocking reads, else None."""
        files = driver.blocking_reads()
        return cls(files, driver.read_memo()) if files is not None else None

    async def run(self, operation: Callable[[BlockingReads], T]) -> T:
        """``operation``'s answer: from the memo if it holds every read, else from a
        worker thread (whose reads the memo then learns)."""
        if self.memo is None:
            return await asyncio.to_thread(operation, self.files)
        return await self.memo.run(operation)

    async def linked_blob_size(self, name: str, digest: Digest) -> int | None:
        """The size of blob ``digest`` if repository ``name`` links it, else None."""
        return await self.run(lambda files: linked_blob_size(files, name, digest))

    async def revision(self, name: str, digest: Digest) -> tuple[bool, bytes | None]:
        """Whether repository ``name`` links manifest ``digest``, and its filed descriptor."""
        return await self.run(lambda files: revision(files, name, digest))

    async def tagged_revision(
        self, name: str, tag: str
    ) -> tuple[Digest | None, bool, bytes | None]:
        """The digest ``tag`` points at (None if it is unknown), then ``revision`` of it."""
        return await self.run(lambda files: tagged_revision(files, name, tag))


def link(files: BlockingReads, path: str) -> Digest | None:
    """The digest the link file at ``path`` holds, or None if absent or damaged."""
    content = files.read(path)
    if content is None:
        return None
    try:
        return Digest.parse(content.decode("ascii", "replace").strip())
    except DigestInvalid:
        return None


def linked_blob_size(files: BlockingReads, name: str, digest: Digest) -> int | None:
    """The size of blob ``digest`` if repository ``name`` links it, else None."""
    if link(files, paths.layer_link(name, digest)) != digest:
        return None
    return files.size(paths.blob_data(digest))


def revision(files: BlockingReads, name: str, digest: Digest) -> tuple[bool, bytes | None]:
    """Whether repository ``name`` links manifest ``digest``, and its filed descriptor."""
    if files.size(paths.manifest_revision_link(name, digest)) is None:
        return False, None
    return True, files.read(paths.manifest_descriptor(name, digest))


def tagged_revision(
    files: BlockingReads, name: str, tag: str
) -> tuple[Digest | None, bool, bytes | None]:
    """The digest ``tag`` points at (None if it is unknown), then ``revision`` of it."""
    digest = link(files, paths.tag_current_link(name, tag))
    if digest is None:
        return None, False, None
    linked, descriptor = revision(files, name, digest)
    return digest, linked, descriptor
