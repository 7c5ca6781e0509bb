"""Images, indexes and artifacts the web interface tests push: documents as bytes, and
pushers that store them through the registry services or over HTTP."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import httpx
from e2e_images import OCI_CONFIG, OCI_EMPTY, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, sha256
from e2e_images import canonical as encode

from dockyard.digest import Digest
from dockyard.storage.protocols import Registry

__all__ = ["OCI_CONFIG", "OCI_EMPTY", "OCI_INDEX", "OCI_LAYER", "OCI_MANIFEST", "encode"]

SBOM_TYPE = "application/spdx+json"
SIGNATURE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"


@dataclass
class Document:
    """A manifest and the blobs it needs, ready to push."""

    media_type: str
    body: bytes
    blobs: dict[str, bytes] = field(default_factory=dict)
    children: list[Document] = field(default_factory=list)

    @property
    def digest(self) -> str:
        return sha256(self.body)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.body),
            **extra,
        }


def image(
    *,
    architecture: str = "amd64",
    os_name: str = "linux",
    labels: dict[str, str] | None = None,
    layer_size: int = 2048,
    env: list[str] | None = None,
    cmd: list[str] | None = None,
) -> Document:
    """A small image: one random layer and a config with the usual fields."""
    layer = os.urandom(layer_size)
    config = encode(
        {
            "architecture": architecture,
            "os": os_name,
            "created": "2026-11-30T12:00:00Z",
            "config": {
                "Env": env or ["PATH=/usr/local/bin:/usr/bin"],
                "Cmd": cmd or ["/bin/sh"],
                "Entrypoint": ["/entrypoint.sh"],
                "Labels": labels or {},
                "ExposedPorts": {"8080/tcp": {}},
                "WorkingDir": "/srv",
            },
            "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]},
            "history": [
                {"created": "2026-11-30T12:00:00Z", "created_by": "ADD rootfs.tar /"},
                {"created_by": 'CMD ["/bin/sh"]', "empty_layer": True},
            ],
        }
    )
    manifest = encode(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}],
        }
    )
    return Document(OCI_MANIFEST, manifest, {sha256(config): config, sha256(layer): layer})


def index(*images: Document) -> Document:
    """A multi-platform index of ``images`` (platforms taken from their configs)."""
    entries = []
    for child in images:
        config = json.loads(child.blobs[json.loads(child.body)["config"]["digest"]])
        platform = {"architecture": config["architecture"], "os": config["os"]}
        entries.append(child.descriptor(platform=platform))
    body = encode({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    return Document(OCI_INDEX, body, children=list(images))


def artifact(subject: Document | None, artifact_type: str, content: bytes) -> Document:
    """An artifact (signature, SBOM) referring to ``subject`` through its ``subject``
    field (or to nothing, as clients of the tag schema push them)."""
    empty = b"{}"
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": OCI_EMPTY, "digest": sha256(empty), "size": 2},
        "layers": [{"mediaType": artifact_type, "digest": sha256(content), "size": len(content)}],
        "annotations": {"org.opencontainers.image.created": "2026-11-30T12:00:00Z"},
    }
    if subject is not None:
        document["subject"] = subject.descriptor()
    manifest = encode(document)
    return Document(OCI_MANIFEST, manifest, {sha256(empty): empty, sha256(content): content})


def referrers_index(*referrers: tuple[Document, str]) -> Document:
    """The index the referrers tag schema keeps at tag ``<alg>-<hex>`` of the subject."""
    entries = [document.descriptor(artifactType=kind) for document, kind in referrers]
    body = encode({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    return Document(OCI_INDEX, body, children=[document for document, _ in referrers])


def fallback_tag(subject: Document) -> str:
    """``sha256-<hex>``: the tag schema's tag for ``subject``'s referrers."""
    return subject.digest.replace(":", "-")


async def store(registry: Registry, name: str, document: Document, tag: str | None = None) -> None:
    """Store ``document`` (children first) through the registry services."""
    repository = registry.repository(name)
    for child in document.children:
        await store(registry, name, child)
    for data in document.blobs.values():
        await repository.blobs.put(data)
    manifest = await repository.manifests.put(document.body, document.media_type)
    if tag is not None:
        await repository.tags.tag(tag, Digest.parse(str(manifest.digest)))


def push(client: httpx.Client, name: str, document: Document, tag: str | None = None) -> None:
    """Push ``document`` (children first) over the registry API."""
    for child in document.children:
        push(client, name, child)
    for digest, data in document.blobs.items():
        response = client.post(f"/v2/{name}/blobs/uploads/?digest={digest}", content=data)
        assert response.status_code == 201, response.text
    reference = tag or document.digest
    response = client.put(
        f"/v2/{name}/manifests/{reference}",
        content=document.body,
        headers={"Content-Type": document.media_type},
    )
    assert response.status_code == 201, response.text
