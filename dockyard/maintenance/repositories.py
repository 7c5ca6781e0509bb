"""Deleting a whole repository: its tags, manifests, blob links, uploads and indexes.

Only the repository's own folders go (those starting with ``_``): a repository nested
below it (``a/b`` below ``a``) stays. The content the repository referenced stays in the
blob store until the next collection finds nothing else references it.
"""

from __future__ import annotations

import contextlib

from dockyard.errors import NameUnknown
from dockyard.reference import validate_name
from dockyard.storage import paths
from dockyard.storage.driver.base import PathNotFound, StorageDriver


async def delete_repository(driver: StorageDriver, name: str) -> None:
    """Remove repository ``name``; ``NameUnknown`` if it holds nothing."""
    folder = paths.repository(validate_name(name))
    try:
        children = await driver.list(folder)
    except PathNotFound:
        raise NameUnknown(f"repository {name} is unknown") from None
    own = [child for child in children if child.rsplit("/", 1)[-1].startswith("_")]
    if not own:
        raise NameUnknown(f"repository {name} is unknown")
    # Tags first: from the first step on, nothing of it is pullable by tag.
    ordered = sorted(own, key=lambda child: not child.endswith("/_manifests"))
    for child in ordered:
        if child.endswith("/_manifests"):
            with contextlib.suppress(PathNotFound):
                await driver.delete(f"{child}/tags")
        with contextlib.suppress(PathNotFound):
            await driver.delete(child)
