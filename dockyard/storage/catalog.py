"""The catalog: every repository name, found by walking the repositories folder.

As in the reference registry's ``catalog.go``, a folder is a repository when it holds a
``_manifests`` folder, and ``_``-prefixed folders are never descended into, so the walk
lists directories only and reads no file inside a repository.

Names nest (``a/b`` lives inside ``a``) and a depth-first walk does not meet them in
lexical order (``a-b`` sorts before ``a/b``). The walk here expands folders smallest
name first from a heap: every name below a folder sorts after the folder's own name, so
names come out in lexical order, a page stops as soon as it is full, and subtrees that
sort entirely before ``last`` are never listed.
"""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterator

from dockyard.storage import paths
from dockyard.storage.driver.base import PathNotFound, StorageDriver
from dockyard.storage.protocols import Page

_MANIFESTS_FOLDER = "_manifests"


def _subtree_before(name: str, last: str) -> bool:
    """Whether ``name`` and every name below it sort at or before ``last``."""
    # Names below ``name`` start with ``name + "/"``; "0" is the character after "/".
    return name + "0" <= last


async def iter_repository_names(
    driver: StorageDriver, last: str | None = None
) -> AsyncIterator[str]:
    """Repository names after ``last``, in lexical order, listing folders lazily."""
    heap: list[str] = []
    try:
        top = await driver.list(paths.REPOSITORIES)
    except PathNotFound:
        return
    prefix = paths.REPOSITORIES + "/"
    for child in top:
        name = child.removeprefix(prefix)
        if not name.startswith("_") and not (last is not None and _subtree_before(name, last)):
            heapq.heappush(heap, name)
    while heap:
        name = heapq.heappop(heap)
        try:
            children = await driver.list(paths.repository(name))
        except PathNotFound:
            continue  # removed meanwhile, or a stray file
        is_repository = False
        for child in children:
            leaf = child.rsplit("/", 1)[-1]
            if leaf.startswith("_"):
                is_repository = is_repository or leaf == _MANIFESTS_FOLDER
                continue
            below = f"{name}/{leaf}"
            if last is None or not _subtree_before(below, last):
                heapq.heappush(heap, below)
        if is_repository and (last is None or name > last):
            yield name


async def repository_names(driver: StorageDriver) -> list[str]:
    """Every repository name in storage, sorted."""
    return [name async for name in iter_repository_names(driver)]


async def catalog(driver: StorageDriver, last: str | None = None, n: int | None = None) -> Page:
    """Repository names sorted lexically, after ``last``, at most ``n``."""
    if n is not None and n <= 0:
        return Page(items=[], more=False)
    items: list[str] = []
    async for name in iter_repository_names(driver, last):
        if n is not None and len(items) == n:
            return Page(items=items, more=True)
        items.append(name)
    return Page(items=items, more=False)
