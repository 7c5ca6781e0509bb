"""OCI image manifests and image indexes (image-spec ``manifest.md``, ``image-index.md``).

Both carry the OCI v1.1 additions used by artifacts: ``artifactType`` and ``subject``
(what the referrers API indexes).

Leniencies shared with the reference registry, on purpose, so that every client that can
push there can push here:

- A missing ``layers`` (or index ``manifests``) array reads as empty.
- An artifact whose config is the empty config (``application/vnd.oci.empty.v1+json``)
  but which has no ``artifactType`` is accepted, although the image-spec's "Guidelines
  for Artifact Usage" say ``artifactType`` MUST then be set. ``Manifest.descriptor()``
  then reports the config media type as its artifact type, as the referrers API does.
- A non-distributable layer (``application/vnd.oci.image.layer.nondistributable.*``,
  deprecated but still pushed for Windows base layers) that lists ``urls`` is fetched
  from elsewhere: it is kept in ``raw`` but left out of ``Manifest.layers``, so the
  registry does not demand the blob. Every other layer must be in the registry, even
  with ``urls``. On layer media types, ``urls`` must be absolute http(s) URLs without a
  fragment. (Both as distribution v3's ``ocischemaManifestHandler``.)
"""

from __future__ import annotations

from typing import Any, Final

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.errors import ManifestInvalid
from dockyard.manifest import fields
from dockyard.manifest.base import OCI_INDEX, OCI_MANIFEST, Manifest

#: Layers that may live outside the registry (image-spec, deprecated in v1.1).
NON_DISTRIBUTABLE_LAYERS: Final = frozenset(
    {
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)
#: The OCI layer media types whose ``urls`` the registry checks.
LAYER_MEDIA_TYPES: Final = NON_DISTRIBUTABLE_LAYERS | {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
}


def parse_oci_manifest(body: bytes, raw: dict[str, Any]) -> Manifest:
    """Validate an OCI image manifest (or artifact manifest) decoded from ``body``."""
    _check_media_type(raw, OCI_MANIFEST, "image manifest")
    fields.reject_fields(raw, ("manifests",), "an image manifest")
    fields.require_schema_version(raw, 2)
    config = fields.required_descriptor(raw, "config")
    return Manifest(
        media_type=OCI_MANIFEST,
        body=body,
        digest=Digest.of(body),
        config=config,
        layers=tuple(required_layers(raw)),
        subject=fields.optional_descriptor(raw, "subject"),
        artifact_type=fields.optional_str(raw, "artifactType", ""),
        annotations=fields.annotations_of(raw),
        raw=raw,
    )


def parse_oci_index(body: bytes, raw: dict[str, Any]) -> Manifest:
    """Validate an OCI image index decoded from ``body``."""
    _check_media_type(raw, OCI_INDEX, "image index")
    fields.reject_fields(raw, ("config", "layers"), "an image index")
    fields.require_schema_version(raw, 2)
    return Manifest(
        media_type=OCI_INDEX,
        body=body,
        digest=Digest.of(body),
        manifests=tuple(fields.descriptors(raw, "manifests")),
        subject=fields.optional_descriptor(raw, "subject"),
        artifact_type=fields.optional_str(raw, "artifactType", ""),
        annotations=fields.annotations_of(raw),
        raw=raw,
    )


def required_layers(raw: dict[str, Any]) -> list[Descriptor]:
    """The layers the registry must hold: all but non-distributable ones with ``urls``."""
    layers = fields.descriptors(raw, "layers")
    required = []
    for index, (layer, layer_raw) in enumerate(zip(layers, raw.get("layers") or [], strict=True)):
        external = fields.urls(layer_raw)
        if external and layer.media_type in LAYER_MEDIA_TYPES:
            fields.check_external_urls(external, f"layers[{index}]")
        if not (external and layer.media_type in NON_DISTRIBUTABLE_LAYERS):
            required.append(layer)
    return required


def _check_media_type(raw: dict[str, Any], expected: str, what: str) -> None:
    # An OCI body may omit mediaType; when present it must name this type.
    media_type = raw.get("mediaType")
    if media_type is None or media_type == "":
        return
    if not isinstance(media_type, str):
        raise ManifestInvalid("mediaType must be a string")
    if media_type != expected:
        raise ManifestInvalid(f"mediaType of an {what} must be {expected!r}")
