"""The catalog: every repository name, found by walking the repositories folder.

As in the reference registry's ``catalog.go``, a folder is a repository when it holds a
``_manifests`` folder, and ``_``-prefixed folders are never descended into, so the walk
lists directories only and reads no file inside a repository.

Names nest (``a/b`` lives inside ``a``) and a depth-first walk does not meet them in
lexical order (``a-b`` sorts before ``a/b``). The walk here expands folders smallest
name first from a heap: every name below a folder sorts after the folder's own name, so
names come out in lexical order, a page stops as soon as it is full, and subtrees that
sort entirely before ``last`` are never listed.

The walk itself (``_Walk``) only asks for folder listings and hands out names; a page is
one plan (``driver.plan``) whose steps are those listings.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from dockyard.storage import paths
from dockyard.storage.driver.base import StorageDriver
from dockyard.storage.driver.plan import Listing, Plan
from dockyard.storage.protocols import Page

_MANIFESTS_FOLDER = "_manifests"


def _subtree_before(name: str, last: str) -> bool:
    """Whether ``name`` and every name below it sort at or before ``last``."""
    # Names below ``name`` start with ``name + "/"``; "0" is the character after "/".
    return name + "0" <= last


class _Walk:
    """The lexical heap walk over repository folders, as steps a caller drives.

    ``step`` returns the next repository name, or a batch of folder names (``""`` is the
    repositories folder itself) whose listings the caller hands to ``listed`` before
    stepping again, or None when no name is left.

    Siblings sort as their leaf names do, so the heap holds one cursor per listed folder
    (its next child) rather than every child: a page costs what it takes, not what
    the largest folder holds.
    """

    def __init__(self, last: str | None, batch: int | None) -> None:
        self._last = last
        #: Folders to list at once (every pending one if None); each yields <= 1 name.
        self._batch = batch
        #: (folder name, its sorted siblings, its index among them).
        self._heap: list[tuple[str, list[str], int]] = []
        self._listed: dict[str, list[str] | None] = {}
        self._started = False

    def step(self) -> str | list[str] | None:
        if not self._started:
            return [""]
        last = self._last
        heap = self._heap
        while heap:
            name, siblings, index = heap[0]
            children = self._listed.pop(name, _UNLISTED)
            if children is _UNLISTED:
                return self._next_batch()
            if index + 1 < len(siblings):
                heapq.heapreplace(heap, (siblings[index + 1], siblings, index + 1))
            else:
                heapq.heappop(heap)
            if children is None:
                continue  # removed meanwhile, or a stray file
            if self._expand(name, children) and (last is None or name > last):
                if self._batch is not None:
                    self._batch = max(self._batch - 1, 1)
                return name
        return None

    def listed(self, batch: Sequence[str], found: Sequence[list[str] | None]) -> None:
        if not self._started:
            self._started = True
            self._expand("", found[0] or [])
            return
        self._listed.update(zip(batch, found, strict=True))

    def _next_batch(self) -> list[str]:
        """The smallest pending folders not listed yet, up to the batch size."""
        size, last = self._batch, self._last
        batch: list[str] = []
        # Folders at or before ``last`` yield no name (only their subtrees may).
        counted = 0
        # A copy of the cursors, advanced to see which folders come next.
        heap = list(self._heap)
        while heap and (size is None or counted < size):
            name, siblings, index = heap[0]
            if index + 1 < len(siblings):
                heapq.heapreplace(heap, (siblings[index + 1], siblings, index + 1))
            else:
                heapq.heappop(heap)
            if name not in self._listed:
                batch.append(name)
                counted += last is None or name > last
        return batch

    def _expand(self, name: str, children: list[str]) -> bool:
        """Add a cursor over the folders below ``name`` that may follow ``last``.

        Returns whether ``name`` is a repository.
        """
        last = self._last
        prefix = f"{name}/" if name else ""
        below = [prefix + leaf for leaf in children if not leaf.startswith("_")]
        if last is not None:
            below = [folder for folder in below if not _subtree_before(folder, last)]
        if below:
            heapq.heappush(self._heap, (below[0], below, 0))
        return _MANIFESTS_FOLDER in children


#: Marks a folder not listed yet (None means listed and absent).
_UNLISTED: list[str] | None = ["<unlisted>"]


def _folder(name: str) -> str:
    return paths.REPOSITORIES if not name else paths.repository(name)


def _page(last: str | None, n: int | None) -> Plan[Page]:
    """Plan: one catalog page (``n`` names at most) after ``last``.

    Folders are listed in batches of up to the names still wanted (and one more, to
    tell whether more follow): one listing step each on a remote store, few on a disk.
    """
    walk = _Walk(last, None if n is None else n + 1)
    items: list[str] = []
    while (step := walk.step()) is not None:
        if isinstance(step, list):
            walk.listed(step, (yield Listing([_folder(name) for name in step])))
        elif n is not None and len(items) == n:
            return Page(items=items, more=True)
        else:
            items.append(step)
    return Page(items=items, more=False)


async def repository_names(driver: StorageDriver) -> list[str]:
    """Every repository name in storage, sorted."""
    return (await catalog(driver)).items


async def catalog(driver: StorageDriver, last: str | None = None, n: int | None = None) -> Page:
    """Repository names sorted lexically, after ``last``, at most ``n``."""
    if n is not None and n <= 0:
        return Page(items=[], more=False)
    return await driver.run(lambda: _page(last, n))
