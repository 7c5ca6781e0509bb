"""``DELETE /v2/_dockyard/repositories/<name>``: delete a whole repository (dockyard's).

Needs the ``delete`` action on the repository and ``storage.delete.enabled``; answers
202, or ``NAME_UNKNOWN`` when the repository holds nothing. Its content goes at the next
garbage collection.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from starlette.responses import Response

from dockyard.api.context import RequestContext
from dockyard.api.responses import empty
from dockyard.errors import Unsupported


@runtime_checkable
class DeletesRepositories(Protocol):
    """A registry that can delete a whole repository (``StorageRegistry`` can)."""

    async def delete_repository(self, name: str) -> None: ...


async def delete(ctx: RequestContext) -> Response:
    """202: the repository's tags, manifests and links are gone."""
    registry = ctx.services.registry
    if not ctx.settings.delete_enabled or not isinstance(registry, DeletesRepositories):
        raise Unsupported("deleting repositories is disabled on this registry")
    await registry.delete_repository(ctx.name)
    return empty(202)
