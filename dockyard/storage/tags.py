"""Tags: named pointers to manifest revisions, in the reference registry's layout.

A tag is a folder ``_manifests/tags/<tag>/`` with ``current/link`` (the digest it points
at now) and ``index/<alg>/<hex>/link`` (every digest it ever pointed at, which the
reference registry keeps). The index entry is written before ``current``.
"""

from __future__ import annotations

import bisect
import builtins
import functools
from collections.abc import Sequence

from dockyard.digest import Digest
from dockyard.errors import ManifestUnknown, NameUnknown, TagUnknown
from dockyard.reference import validate_tag
from dockyard.storage import paths
from dockyard.storage.blobs import read_link, write_link
from dockyard.storage.driver.base import PathNotFound, StorageDriver
from dockyard.storage.driver.plan import Each, Listing, ModTime, Plan, Size
from dockyard.storage.protocols import Page, TagRecord


def paginate(names: builtins.list[str], last: str | None, n: int | None) -> Page:
    """One page of sorted ``names``: those after ``last``, at most ``n``."""
    return _page_of_sorted(sorted(names), last, n)


def _page_of_sorted(ordered: Sequence[str], last: str | None, n: int | None) -> Page:
    start = 0 if last is None else bisect.bisect_right(ordered, last)
    if n is None:
        return Page(items=list(ordered[start:]), more=False)
    n = max(n, 0)
    return Page(items=list(ordered[start : start + n]), more=n > 0 and len(ordered) - start > n)


class StorageTags:
    """The tags of one repository (implements ``protocols.Tags``)."""

    def __init__(self, name: str, driver: StorageDriver) -> None:
        self.name = name
        self.driver = driver

    async def resolve(self, tag: str) -> Digest:
        """The digest ``tag`` points at; ``TagUnknown`` if absent."""
        validate_tag(tag)
        path = paths.tag_current_link(self.name, tag)
        digest = await self.driver.run(functools.partial(read_link, path), reads_only=True)
        if digest is None:
            raise TagUnknown(f"tag {tag} is unknown")
        return digest

    async def tag(self, tag: str, digest: Digest) -> None:
        """Point ``tag`` at a stored manifest; ``ManifestUnknown`` if it is not stored."""
        validate_tag(tag)
        name = self.name
        await self.driver.run(lambda: _tag(name, tag, digest))

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
        return builtins.list(await self._sorted())

    async def list(self, last: str | None = None, n: int | None = None) -> Page:
        """Tags sorted lexically, after ``last``, at most ``n``."""
        return _page_of_sorted(await self._sorted(), last, n)

    async def _sorted(self) -> tuple[str, ...]:
        # A partial of a module-level plan with an immutable result: a driver with a read
        # memo may answer it whole, without running the plan again.
        return await self.driver.run(functools.partial(_names, self.name), reads_only=True)

    async def current(self) -> dict[str, Digest]:
        """Every tag with the digest it points at (tags without a current link omitted)."""
        try:
            names = await self.names()
        except NameUnknown:
            return {}

        links = [paths.tag_current_link(self.name, tag) for tag in names]
        digests = await self.driver.run(lambda: _read_links(links), reads_only=True)
        return {tag: digest for tag, digest in zip(names, digests, strict=True) if digest}

    async def lookup(self, digest: Digest) -> builtins.list[str]:
        """Every tag currently pointing at ``digest``, sorted."""
        return sorted(tag for tag, target in (await self.current()).items() if target == digest)

    async def describe(self, tags: Sequence[str]) -> builtins.list[TagRecord]:
        """Each tag's digest and push time (its current link's modification time); tags
        removed meanwhile are left out."""
        links = [(tag, paths.tag_current_link(self.name, validate_tag(tag))) for tag in tags]
        return await self.driver.run(lambda: _describe(links), reads_only=True)


def _describe(links: Sequence[tuple[str, str]]) -> Plan[builtins.list[TagRecord]]:
    """Plan: ``StorageTags.describe``."""
    found: builtins.list[TagRecord | None] = yield Each(
        [functools.partial(_tag_record, tag, link) for tag, link in links]
    )
    return [record for record in found if record is not None]


def _tag_record(tag: str, link: str) -> Plan[TagRecord | None]:
    digest = yield from read_link(link)
    if digest is None:
        return None
    moment = yield ModTime(link)
    return None if moment is None else TagRecord(tag, digest, moment)


def _tag(name: str, tag: str, digest: Digest) -> Plan[None]:
    """Plan: point ``tag`` at ``digest`` if it is a stored manifest of ``name``."""
    if (yield Size(paths.manifest_revision_link(name, digest))) is None:
        raise ManifestUnknown(f"manifest {digest} is unknown")
    # The index is history that nothing reads back to answer a request: its name need not
    # outlive a crash of the machine. The current link is what the reply promises.
    yield write_link(paths.tag_index_link(name, tag, digest), digest, "content")
    yield write_link(paths.tag_current_link(name, tag), digest)


def _names(name: str) -> Plan[tuple[str, ...]]:
    """Plan: the tags of repository ``name``, sorted; ``NameUnknown`` if there is none."""
    (names,) = yield Listing([paths.tags_dir(name)])
    if names is not None:
        return tuple(names)
    (repository,) = yield Listing([paths.repository(name)])
    if repository is not None:
        return ()
    raise NameUnknown(f"repository {name} is unknown")


def _read_links(links: builtins.list[str]) -> Plan[builtins.list[Digest | None]]:
    digests: builtins.list[Digest | None] = yield Each(
        [functools.partial(read_link, link) for link in links]
    )
    return digests
