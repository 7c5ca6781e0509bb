"""The core flow end to end in-process: push an image, pull it back."""

from __future__ import annotations

import httpx
from api_helpers import OCI_MANIFEST, digest_of, push_image


async def test_pushed_image_pulls_back_byte_exact(client: httpx.AsyncClient) -> None:
    body, digest = await push_image(client, "library/app", "v1")
    by_tag = await client.get("/v2/library/app/manifests/v1")
    assert by_tag.status_code == 200
    assert by_tag.content == body
    assert by_tag.headers["docker-content-digest"] == digest
    assert by_tag.headers["content-type"] == OCI_MANIFEST
    layer = b"layer-bytes-"
    blob = await client.get(f"/v2/library/app/blobs/{digest_of(layer)}")
    assert blob.status_code == 200
    assert blob.content == layer
