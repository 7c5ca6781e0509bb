"""Layers fetched from URLs are reported separately from the blobs the registry holds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dockyard.digest import Digest
from dockyard.manifest import external_layers, parse_manifest
from dockyard.manifest.base import DOCKER_MANIFEST, OCI_MANIFEST
from dockyard.manifest.docker import DOCKER_FOREIGN_LAYER

Builder = Callable[..., dict[str, Any]]
Encode = Callable[[Any], bytes]
URL = "https://example.com/base.tar.gz"


def test_foreign_docker_layers_are_reported_with_their_urls(
    docker_manifest: dict[str, Any], descriptor: Builder, to_bytes: Encode
) -> None:
    docker_manifest["layers"].append(descriptor(DOCKER_FOREIGN_LAYER, b"base", urls=[URL]))
    manifest = parse_manifest(to_bytes(docker_manifest), DOCKER_MANIFEST)
    ((layer, urls),) = external_layers(manifest)
    assert layer.digest == Digest.of(b"base")
    assert urls == (URL,)


def test_nondistributable_oci_layers_are_reported_with_their_urls(
    oci_manifest: dict[str, Any], descriptor: Builder, to_bytes: Encode
) -> None:
    media_type = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    oci_manifest["layers"].append(descriptor(media_type, b"base", urls=[URL]))
    manifest = parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)
    ((layer, urls),) = external_layers(manifest)
    assert layer.media_type == media_type
    assert urls == (URL,)


def test_manifest_without_external_layers_reports_none(
    oci_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    assert external_layers(parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)) == ()
