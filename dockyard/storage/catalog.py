"""The catalog: every repository name, found by walking the repositories folder.

As in the reference registry's ``catalog.go``, a folder is a repository when it holds a
``_manifests`` folder; ``_``-prefixed folders are never descended into, so the walk lists
directories only and reads no file inside a repository. Names are nested (``a/b`` lives
inside ``a``), so the walk visits every repository folder once and the names are sorted
afterwards: walk order is not lexical order (``a-b`` sorts before ``a/b``).
"""

from __future__ import annotations

import contextlib

from dockyard.storage import paths
from dockyard.storage.driver.base import FileInfo, PathNotFound, StorageDriver
from dockyard.storage.protocols import Page
from dockyard.storage.tags import paginate

_MANIFESTS_FOLDER = "_manifests"


async def repository_names(driver: StorageDriver) -> list[str]:
    """Every repository name in storage, sorted."""
    names: list[str] = []

    def skip_dir(info: FileInfo) -> bool:
        leaf = info.path.rsplit("/", 1)[-1]
        if not leaf.startswith("_"):
            return False
        if leaf == _MANIFESTS_FOLDER:
            name = paths.repository_name_of(info.path)
            if name is not None:
                names.append(name)
        return True

    with contextlib.suppress(PathNotFound):
        async for _ in driver.walk(paths.REPOSITORIES, skip_dir):
            pass
    return sorted(names)


async def catalog(driver: StorageDriver, last: str | None = None, n: int | None = None) -> Page:
    """Repository names sorted lexically, after ``last``, at most ``n``."""
    return paginate(await repository_names(driver), last, n)
