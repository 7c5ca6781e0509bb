"""Tags: named pointers to manifest revisions, in the reference registry's layout.

A tag is a folder ``_manifests/tags/<tag>/`` with ``current/link`` (the digest it points
at now) and ``index/<alg>/<hex>/link`` (every digest it ever pointed at, which the
reference registry keeps). The index entry is written before ``current``.
"""

from __future__ import annotations

import asyncio
import bisect
import builtins
import os
from collections.abc import Sequence
from datetime import UTC, datetime

from dockyard.digest import Digest
from dockyard.errors import DigestInvalid, ManifestUnknown, NameUnknown, TagUnknown
from dockyard.reference import validate_tag
from dockyard.storage import paths
from dockyard.storage.blobs import path_exists, read_link, write_link
from dockyard.storage.driver.base import (
    BlockingFiles,
    BlockingReads,
    PathNotFound,
    StorageDriver,
)
from dockyard.storage.protocols import Page, TagRecord


def paginate(names: builtins.list[str], last: str | None, n: int | None) -> Page:
    """One page of sorted ``names``: those after ``last``, at most ``n``."""
    return _page_of_sorted(sorted(names), last, n)


def _page_of_sorted(ordered: builtins.list[str], last: str | None, n: int | None) -> Page:
    start = 0 if last is None else bisect.bisect_right(ordered, last)
    if n is None:
        return Page(items=ordered[start:], more=False)
    n = max(n, 0)
    return Page(items=ordered[start : start + n], more=n > 0 and len(ordered) - start > n)


class StorageTags:
    """The tags of one repository (implements ``protocols.Tags``)."""

    def __init__(self, name: str, driver: StorageDriver) -> None:
        self.name = name
        self.driver = driver
        self._memo = driver.read_memo()
        self._files = driver.blocking_files()

    async def resolve(self, tag: str) -> Digest:
        """The digest ``tag`` points at; ``TagUnknown`` if absent."""
        validate_tag(tag)
        try:
            return await read_link(self.driver, paths.tag_current_link(self.name, tag))
        except PathNotFound:
            raise TagUnknown(f"tag {tag} is unknown") from None

    async def tag(self, tag: str, digest: Digest) -> None:
        """Point ``tag`` at a stored manifest; ``ManifestUnknown`` if it is not stored."""
        validate_tag(tag)
        if self._files is not None:
            # On a local driver: the check and both links in one worker-thread hop.
            await asyncio.to_thread(_tag_blocking, self._files, self.name, tag, digest)
            return
        if not await path_exists(self.driver, paths.manifest_revision_link(self.name, digest)):
            raise ManifestUnknown(f"manifest {digest} is unknown")
        await write_link(self.driver, paths.tag_index_link(self.name, tag, digest), digest)
        await write_link(self.driver, paths.tag_current_link(self.name, tag), digest)

    async def untag(self, tag: str) -> None:
        """Remove the tag and its history; ``TagUnknown`` if absent."""
        validate_tag(tag)
        try:
            await self.driver.delete(paths.tag_dir(self.name, tag))
        except PathNotFound:
            raise TagUnknown(f"tag {tag} is unknown") from None

    async def names(self) -> builtins.list[str]:
        """Every tag of the repository, sorted; ``NameUnknown`` if the repository is not.

        One listing of the tags folder, as the reference registry does: no tag is read.
        A tag whose first write is still in flight may show (``StorageDriver.list_names``).
        """
        folder = paths.tags_dir(self.name)
        if self._memo is not None:
            names = await self._memo.run(lambda reads: reads.names(folder))
        else:
            (names,) = await self.driver.list_names([folder])
        if names is not None:
            return names
        if await path_exists(self.driver, paths.repository(self.name)):
            return []
        raise NameUnknown(f"repository {self.name} is unknown")

    async def list(self, last: str | None = None, n: int | None = None) -> Page:
        """Tags sorted lexically, after ``last``, at most ``n``."""
        return _page_of_sorted(await self.names(), last, n)

    async def current(self) -> dict[str, Digest]:
        """Every tag with the digest it points at (tags without a current link omitted)."""
        try:
            names = await self.names()
        except NameUnknown:
            return {}

        async def one(tag: str) -> tuple[str, Digest | None]:
            try:
                return tag, await read_link(self.driver, paths.tag_current_link(self.name, tag))
            except PathNotFound:
                return tag, None

        pairs = await asyncio.gather(*(one(tag) for tag in names))
        return {tag: digest for tag, digest in pairs if digest is not None}

    async def lookup(self, digest: Digest) -> builtins.list[str]:
        """Every tag currently pointing at ``digest``, sorted."""
        return sorted(tag for tag, target in (await self.current()).items() if target == digest)

    async def describe(self, tags: Sequence[str]) -> builtins.list[TagRecord]:
        """Each tag's digest and push time (its current link's modification time).

        On local storage every tag is read in one worker-thread hop; elsewhere the
        links are read and stat'ed concurrently.
        """
        links = [(tag, paths.tag_current_link(self.name, validate_tag(tag))) for tag in tags]
        files = self.driver.blocking_reads()
        if files is not None:
            return await asyncio.to_thread(_describe_local, self.driver, files, links)

        async def one(tag: str, link: str) -> TagRecord | None:
            info, digest = await asyncio.gather(
                self.driver.stat(link), read_link(self.driver, link), return_exceptions=True
            )
            if isinstance(info, PathNotFound) or isinstance(digest, PathNotFound):
                return None  # untagged meanwhile
            if isinstance(info, BaseException):
                raise info
            if isinstance(digest, BaseException):
                raise digest
            return TagRecord(tag, digest, info.mod_time)

        found = await asyncio.gather(*(one(tag, link) for tag, link in links))
        return [record for record in found if record is not None]


def _describe_local(
    driver: StorageDriver, files: BlockingReads, links: Sequence[tuple[str, str]]
) -> builtins.list[TagRecord]:
    """``StorageTags.describe`` through a local driver's files (in a worker thread)."""
    records: builtins.list[TagRecord] = []
    for tag, link in links:
        local = driver.local_path(link)
        content = files.read(link) if local is not None else None
        if local is None or content is None:
            continue  # untagged meanwhile
        try:
            modified = os.stat(local).st_mtime
            digest = Digest.parse(content.decode("ascii", "replace").strip())
        except (OSError, DigestInvalid):
            continue
        records.append(TagRecord(tag, digest, datetime.fromtimestamp(modified, UTC)))
    return records


def _tag_blocking(files: BlockingFiles, name: str, tag: str, digest: Digest) -> None:
    """``StorageTags.tag`` through blocking files (in a worker thread)."""
    if files.size(paths.manifest_revision_link(name, digest)) is None:
        raise ManifestUnknown(f"manifest {digest} is unknown")
    link = str(digest).encode("ascii")
    # The index is history that nothing reads back to answer a request: its name need not
    # outlive a crash of the machine. The current link is what the reply promises.
    files.put(paths.tag_index_link(name, tag, digest), link, "content")
    files.put(paths.tag_current_link(name, tag), link)
