"""Builders of manifest JSON shared by the manifest tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from dockyard.digest import Digest

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def make_descriptor(media_type: str, content: bytes = b"content", **extra: Any) -> dict[str, Any]:
    """A descriptor JSON object for ``content``."""
    return {
        "mediaType": media_type,
        "digest": str(Digest.of(content)),
        "size": len(content),
        **extra,
    }


@pytest.fixture
def descriptor() -> Callable[..., dict[str, Any]]:
    """Build a descriptor JSON object: ``descriptor(media_type, content=b"…", **extra)``."""
    return make_descriptor


@pytest.fixture
def oci_manifest() -> dict[str, Any]:
    """A valid OCI image manifest with one layer, as JSON (a fresh dict per test)."""
    return {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": make_descriptor(OCI_CONFIG, b"{}config"),
        "layers": [make_descriptor(OCI_LAYER, b"layer-1")],
    }


@pytest.fixture
def oci_index() -> dict[str, Any]:
    """A valid OCI image index listing one linux/amd64 manifest."""
    return {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            make_descriptor(
                "application/vnd.oci.image.manifest.v1+json",
                b"child",
                platform={"architecture": "amd64", "os": "linux"},
            )
        ],
    }


@pytest.fixture
def docker_manifest() -> dict[str, Any]:
    """A valid Docker schema2 image manifest with one layer."""
    return {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": make_descriptor("application/vnd.docker.container.image.v1+json", b"cfg"),
        "layers": [
            make_descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", b"layer-1")
        ],
    }


@pytest.fixture
def docker_list() -> dict[str, Any]:
    """A valid Docker manifest list with one arm64 entry."""
    return {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [
            make_descriptor(
                "application/vnd.docker.distribution.manifest.v2+json",
                b"child",
                platform={"architecture": "arm64", "os": "linux", "variant": "v8"},
            )
        ],
    }


def encode(value: Any) -> bytes:
    """JSON bytes of ``value`` (compact, like most clients send)."""
    return json.dumps(value, separators=(",", ":")).encode()


@pytest.fixture
def to_bytes() -> Callable[[Any], bytes]:
    """Encode a JSON value as a request body."""
    return encode
