"""``parse_manifest``: one entry point from pushed bytes to a validated ``Manifest``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from dockyard.errors import ManifestTooLarge
from dockyard.manifest.base import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    MAX_MANIFEST_SIZE,
    OCI_INDEX,
    OCI_MANIFEST,
    Manifest,
)
from dockyard.manifest.detect import detect_media_type
from dockyard.manifest.docker import parse_docker_manifest, parse_docker_manifest_list
from dockyard.manifest.fields import load_object
from dockyard.manifest.oci import parse_oci_index, parse_oci_manifest

Parser = Callable[[bytes, dict[str, Any]], Manifest]


def parse_schema1(body: bytes, raw: dict[str, Any]) -> Manifest:
    """``schema1.parse_schema1``, imported on first use (it loads ``cryptography``)."""
    from dockyard.manifest import schema1

    return schema1.parse_schema1(body, raw)


PARSERS: Final[dict[str, Parser]] = {
    OCI_MANIFEST: parse_oci_manifest,
    OCI_INDEX: parse_oci_index,
    DOCKER_MANIFEST: parse_docker_manifest,
    DOCKER_MANIFEST_LIST: parse_docker_manifest_list,
    DOCKER_SCHEMA1: parse_schema1,
    DOCKER_SCHEMA1_SIGNED: parse_schema1,
}


def parse_manifest(body: bytes, content_type: str | None) -> Manifest:
    """Parse and validate a pushed manifest.

    ``content_type`` is the request's Content-Type header, possibly empty or with
    parameters. Raises ``ManifestTooLarge``, ``ManifestInvalid`` or ``ManifestUnverified``
    (schema1 signatures) and nothing else. The returned manifest's ``body`` is ``body``
    unchanged: the bytes to store and serve.
    """
    if len(body) > MAX_MANIFEST_SIZE:
        raise ManifestTooLarge(len(body), MAX_MANIFEST_SIZE)
    raw = load_object(body)
    media_type = detect_media_type(content_type, raw)
    return PARSERS[media_type](body, raw)
