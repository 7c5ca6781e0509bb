"""Building blocks for API tests: digests, pushes and manifests as clients make them."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
EMPTY_JSON = b"{}"
EMPTY_JSON_TYPE = "application/vnd.oci.empty.v1+json"
DUMMY_DIGEST = "sha256:" + "0" * 64
SECRET = b"test-secret-for-upload-state"


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def relative(location: str, **params: str) -> str:
    """The path and query of a Location header, as the conformance suite follows it,
    with ``params`` added to the query (httpx's ``params=`` would replace it)."""
    parts = urlsplit(location)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return parts.path + (f"?{query}" if query else "")


async def push_blob(client: httpx.AsyncClient, name: str, data: bytes) -> str:
    """Upload a blob with POST then PUT ?digest=, returning its digest."""
    digest = digest_of(data)
    started = await client.post(f"/v2/{name}/blobs/uploads/")
    assert started.status_code == 202, started.text
    done = await client.put(
        relative(started.headers["location"], digest=digest),
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert done.status_code == 201, done.text
    return digest


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data), **extra}


def image_manifest(
    config: bytes,
    layers: list[bytes],
    *,
    config_type: str = OCI_CONFIG,
    subject: dict[str, Any] | None = None,
    artifact_type: str | None = None,
    annotations: dict[str, str] | None = None,
) -> bytes:
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(config_type, config),
        "layers": [descriptor(OCI_LAYER, layer) for layer in layers],
    }
    if artifact_type is not None:
        document["artifactType"] = artifact_type
    if subject is not None:
        document["subject"] = subject
    if annotations is not None:
        document["annotations"] = annotations
    return json.dumps(document, indent=2).encode()


async def push_image(
    client: httpx.AsyncClient,
    name: str,
    reference: str | None = "latest",
    *,
    seed: bytes = b"",
    **manifest_options: Any,
) -> tuple[bytes, str]:
    """Push a config, one layer and a manifest (by ``reference``, or by digest when None)."""
    config = (
        b'{"architecture":"amd64","os":"linux"'
        + (b',"s":"' + seed.hex().encode() + b'"' if seed else b"")
        + b"}"
    )
    layer = b"layer-bytes-" + seed
    await push_blob(client, name, config)
    await push_blob(client, name, layer)
    body = image_manifest(config, [layer], **manifest_options)
    digest = digest_of(body)
    response = await client.put(
        f"/v2/{name}/manifests/{reference or digest}",
        content=body,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201, response.text
    return body, digest


def error_codes(response: httpx.Response) -> list[str]:
    """The OCI error codes of an error response (asserting its JSON shape)."""
    document = response.json()
    assert isinstance(document["errors"], list)
    assert document["errors"]
    for entry in document["errors"]:
        assert set(entry) == {"code", "message", "detail"}
    return [entry["code"] for entry in document["errors"]]
