"""A minimal registry client for the scale-out tests: each request may go to a different
instance, as a load balancer would send it."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MiB = 1024 * 1024


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def random_bytes(size: int) -> bytes:
    return os.urandom(size)


def on(base: str, location: str, **params: str) -> str:
    """The ``Location`` of one instance's answer, sent to the instance at ``base``."""
    parts = urlsplit(location)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return f"{base}{parts.path}" + (f"?{query}" if query else "")


def chunked_upload(
    client: httpx.Client, bases: list[str], name: str, chunks: list[bytes]
) -> tuple[str, list[str]]:
    """POST, one PATCH per chunk and the PUT, request ``i`` going to ``bases[i % n]``.

    Returns the digest and the instance each request went to.
    """
    data = b"".join(chunks)
    digest = digest_of(data)
    used = [bases[0]]
    started = client.post(f"{bases[0]}/v2/{name}/blobs/uploads/")
    assert started.status_code == 202, started.text
    location = started.headers["location"]
    offset = 0
    for index, chunk in enumerate(chunks, start=1):
        base = bases[index % len(bases)]
        used.append(base)
        response = client.patch(
            on(base, location),
            content=chunk,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
            },
        )
        assert response.status_code == 202, (base, response.text)
        offset += len(chunk)
        assert response.headers["range"] == f"0-{offset - 1}"
        location = response.headers["location"]
    base = bases[(len(chunks) + 1) % len(bases)]
    used.append(base)
    done = client.put(on(base, location, digest=digest))
    assert done.status_code == 201, (base, done.text)
    assert done.headers["docker-content-digest"] == digest
    return digest, used


def monolithic_upload(client: httpx.Client, base: str, name: str, data: bytes) -> str:
    digest = digest_of(data)
    response = client.post(
        f"{base}/v2/{name}/blobs/uploads/",
        params={"digest": digest},
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text
    return digest


def image_manifest(config: bytes, layers: list[bytes]) -> bytes:
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
        "layers": [
            {"mediaType": OCI_LAYER, "digest": digest_of(layer), "size": len(layer)}
            for layer in layers
        ],
    }
    return json.dumps(document, separators=(",", ":")).encode()
