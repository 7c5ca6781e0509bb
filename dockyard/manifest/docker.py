"""Docker image manifest v2 schema 2 and manifest lists.

Unlike OCI bodies, both Docker types must name their own ``mediaType`` in the body, as
the reference registry requires.

Foreign layers (``application/vnd.docker.image.rootfs.foreign.diff.tar.gzip``, typically
Windows base layers) are downloaded by clients from their ``urls``: they stay in ``raw``
but are left out of ``Manifest.layers``, so the registry does not demand them. They must
carry at least one absolute http(s) URL. Every other layer must be in the registry, even
if it lists URLs (as in the reference).
"""

from __future__ import annotations

from typing import Any, Final

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.errors import ManifestInvalid
from dockyard.manifest import fields
from dockyard.manifest.base import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Manifest

DOCKER_CONFIG: Final = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER: Final = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER: Final = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"


def parse_docker_manifest(body: bytes, raw: dict[str, Any]) -> Manifest:
    """Validate a Docker schema2 image manifest decoded from ``body``."""
    _check_media_type(raw, DOCKER_MANIFEST)
    fields.reject_fields(raw, ("manifests",), "an image manifest")
    fields.require_schema_version(raw, 2)
    return Manifest(
        media_type=DOCKER_MANIFEST,
        body=body,
        digest=Digest.of(body),
        config=fields.required_descriptor(raw, "config"),
        layers=tuple(_required_layers(raw)),
        raw=raw,
    )


def parse_docker_manifest_list(body: bytes, raw: dict[str, Any]) -> Manifest:
    """Validate a Docker manifest list (a "fat manifest") decoded from ``body``."""
    _check_media_type(raw, DOCKER_MANIFEST_LIST)
    fields.reject_fields(raw, ("config", "layers"), "a manifest list")
    fields.require_schema_version(raw, 2)
    return Manifest(
        media_type=DOCKER_MANIFEST_LIST,
        body=body,
        digest=Digest.of(body),
        manifests=tuple(fields.descriptors(raw, "manifests")),
        annotations=fields.annotations_of(raw),
        raw=raw,
    )


def _required_layers(raw: dict[str, Any]) -> list[Descriptor]:
    layers = fields.descriptors(raw, "layers")
    required = []
    for index, (layer, layer_raw) in enumerate(zip(layers, raw.get("layers") or [], strict=True)):
        if layer.media_type == DOCKER_FOREIGN_LAYER:
            external = fields.urls(layer_raw)
            if not external:
                raise ManifestInvalid(f"layers[{index}] is a foreign layer without urls")
            fields.check_external_urls(external, f"layers[{index}]")
        else:
            required.append(layer)
    return required


def _check_media_type(raw: dict[str, Any], expected: str) -> None:
    media_type = raw.get("mediaType")
    if media_type != expected:
        raise ManifestInvalid(f"mediaType must be {expected!r}")
