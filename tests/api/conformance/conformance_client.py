"""The requests the conformance suite makes, as small helpers over an httpx client."""

from __future__ import annotations

import httpx
from api_helpers import OCI_MANIFEST, digest_of, relative


async def upload(client: httpx.AsyncClient, name: str, data: bytes) -> httpx.Response:
    """POST a session, then PUT the whole blob with ?digest= (the suite's setup)."""
    started = await client.post(f"/v2/{name}/blobs/uploads/")
    return await client.put(
        relative(started.headers["location"], digest=digest_of(data)),
        content=data,
        headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))},
    )


async def put_manifest(
    client: httpx.AsyncClient,
    name: str,
    reference: str,
    body: bytes,
    media_type: str = OCI_MANIFEST,
) -> httpx.Response:
    return await client.put(
        f"/v2/{name}/manifests/{reference}", content=body, headers={"Content-Type": media_type}
    )
