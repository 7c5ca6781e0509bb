"""Which media type a pushed manifest is: from the Content-Type, the body, or its shape.

Rules, in order:

1. A specific Content-Type names the type. It must be a manifest type the registry
   knows, and when the body also has a ``mediaType`` the two must agree.
2. A missing Content-Type defers to the body's ``mediaType``.
3. A generic Content-Type (``application/json``, ``application/octet-stream``) says
   the body is plain JSON, so it contradicts any ``mediaType`` the body states.
4. Failing that, the body's shape decides: ``schemaVersion`` 1 is a schema1 signed
   manifest, ``manifests`` an OCI index, ``config`` an OCI manifest.

Anything else is ``ManifestInvalid``: the registry stores only manifest types it knows,
and never a body whose type the request and the body disagree on (a client reading one
and the registry verifying the other would mean two different things).
"""

from __future__ import annotations

from typing import Any, Final

from dockyard.errors import ManifestInvalid
from dockyard.manifest.base import (
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    MANIFEST_MEDIA_TYPES,
    OCI_INDEX,
    OCI_MANIFEST,
)

#: Content-Types that say nothing about which manifest type a body is.
GENERIC_CONTENT_TYPES: Final = frozenset({"", "application/json", "application/octet-stream"})

_SCHEMA1_TYPES: Final = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})


def content_media_type(content_type: str | None) -> str:
    """The bare, lower-case media type of a Content-Type header (parameters dropped)."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def detect_media_type(content_type: str | None, raw: dict[str, Any]) -> str:
    """The manifest media type of a decoded body pushed with ``content_type``."""
    declared = content_media_type(content_type)
    in_body = raw.get("mediaType")
    if in_body is not None and not isinstance(in_body, str):
        raise ManifestInvalid("mediaType must be a string")
    in_body = in_body or None
    if declared not in GENERIC_CONTENT_TYPES:
        if declared not in MANIFEST_MEDIA_TYPES:
            raise ManifestInvalid(f"unsupported manifest media type {declared[:200]!r}")
        if in_body is not None and not _same_type(declared, in_body):
            raise ManifestInvalid(
                f"mediaType {in_body[:200]!r} in the manifest does not match "
                f"the Content-Type {declared!r}"
            )
        return declared
    if in_body is not None:
        if declared:
            raise ManifestInvalid(
                f"mediaType {in_body[:200]!r} in the manifest contradicts "
                f"the Content-Type {declared!r}"
            )
        if in_body not in MANIFEST_MEDIA_TYPES:
            raise ManifestInvalid(f"unsupported manifest media type {in_body[:200]!r}")
        return in_body
    return _from_shape(raw)


def _same_type(declared: str, in_body: str) -> bool:
    # Either schema1 name may label either form of a schema1 manifest.
    return declared == in_body or (declared in _SCHEMA1_TYPES and in_body in _SCHEMA1_TYPES)


def _from_shape(raw: dict[str, Any]) -> str:
    if raw.get("schemaVersion") == 1 and "signatures" in raw:
        return DOCKER_SCHEMA1_SIGNED
    if "manifests" in raw:
        return OCI_INDEX
    if "config" in raw:
        return OCI_MANIFEST
    raise ManifestInvalid("cannot tell the manifest's media type from its Content-Type or body")
