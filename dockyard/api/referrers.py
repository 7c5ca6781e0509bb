"""``GET /v2/<name>/referrers/<digest>``: manifests whose ``subject`` is a digest."""

from __future__ import annotations

from typing import Any, Final

from starlette.responses import Response

from dockyard.api.context import RequestContext
from dockyard.api.pagination import next_link
from dockyard.api.responses import json_document
from dockyard.digest import Digest
from dockyard.manifest.base import OCI_INDEX

#: Descriptors per page; a page stays far below the 4 MiB a client accepts for an index.
PAGE_SIZE: Final = 1000


async def get(ctx: RequestContext) -> Response:
    """An OCI image index of the referrers, optionally filtered by ``artifactType``.

    Never 404: a digest nothing refers to answers an empty index. Large answers are
    paged by digest order with a ``Link`` to the next page (``last`` is opaque to
    clients, who follow the link).
    """
    subject = Digest.parse(ctx.arg)
    artifact_type = ctx.query("artifactType") or None
    descriptors = await ctx.repository.referrers.list(subject, artifact_type)
    descriptors = sorted(descriptors, key=lambda d: str(d.digest))
    last = ctx.query("last")
    if last:
        descriptors = [d for d in descriptors if str(d.digest) > last]
    headers: dict[str, str] = {}
    if artifact_type:
        headers["OCI-Filters-Applied"] = "artifactType"
    if len(descriptors) > PAGE_SIZE:
        descriptors = descriptors[:PAGE_SIZE]
        filters = {"artifactType": artifact_type} if artifact_type else {}
        path = f"/v2/{ctx.name}/referrers/{subject}"
        headers["Link"] = next_link(path, str(descriptors[-1].digest), None, **filters)
    index: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [d.to_json() for d in descriptors],
    }
    return json_document(index, headers=headers, media_type=OCI_INDEX)
