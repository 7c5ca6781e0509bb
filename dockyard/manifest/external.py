"""Layers a manifest lists but the registry need not hold: fetched by clients from URLs.

``Manifest.layers`` holds only blobs the registry must have. This recovers the others
(Docker foreign layers, OCI non-distributable layers with ``urls``) from ``raw``, for a
store that applies a URL allow/deny policy (``validation.manifests.urls`` in the
reference's configuration) or wants to report them.
"""

from __future__ import annotations

from dockyard.descriptor import Descriptor
from dockyard.manifest import fields
from dockyard.manifest.base import DOCKER_MANIFEST, OCI_MANIFEST, Manifest
from dockyard.manifest.docker import DOCKER_FOREIGN_LAYER
from dockyard.manifest.oci import NON_DISTRIBUTABLE_LAYERS


def external_layers(manifest: Manifest) -> tuple[tuple[Descriptor, tuple[str, ...]], ...]:
    """Each layer served from outside the registry, with its URLs, in manifest order."""
    if manifest.media_type == DOCKER_MANIFEST:
        kinds = frozenset({DOCKER_FOREIGN_LAYER})
    elif manifest.media_type == OCI_MANIFEST:
        kinds = NON_DISTRIBUTABLE_LAYERS
    else:
        return ()
    found = []
    for index, item in enumerate(manifest.raw.get("layers") or []):
        layer = fields.descriptor(item, f"layers[{index}]")
        urls = fields.urls(item)
        if layer.media_type in kinds and urls:
            found.append((layer, tuple(urls)))
    return tuple(found)
