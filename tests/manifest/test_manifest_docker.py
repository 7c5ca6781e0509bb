"""Docker schema2 image manifests and manifest lists."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dockyard.digest import Digest
from dockyard.errors import ManifestInvalid
from dockyard.manifest import parse_manifest
from dockyard.manifest.base import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST
from dockyard.manifest.docker import DOCKER_FOREIGN_LAYER

Builder = Callable[..., dict[str, Any]]
Encode = Callable[[Any], bytes]


def test_schema2_manifest_parses_config_and_layers(
    docker_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    body = to_bytes(docker_manifest)
    manifest = parse_manifest(body, DOCKER_MANIFEST)
    assert manifest.media_type == DOCKER_MANIFEST
    assert manifest.digest == Digest.of(body)
    assert manifest.config is not None
    assert manifest.config.media_type == "application/vnd.docker.container.image.v1+json"
    assert [layer.to_json() for layer in manifest.layers] == docker_manifest["layers"]


def test_schema2_manifest_requires_media_type_in_body(
    docker_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    del docker_manifest["mediaType"]
    with pytest.raises(ManifestInvalid, match="mediaType"):
        parse_manifest(to_bytes(docker_manifest), DOCKER_MANIFEST)


def test_schema2_manifest_requires_config(
    docker_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    del docker_manifest["config"]
    with pytest.raises(ManifestInvalid, match="config is required"):
        parse_manifest(to_bytes(docker_manifest), DOCKER_MANIFEST)


def test_foreign_layer_is_not_required(
    docker_manifest: dict[str, Any], descriptor: Builder, to_bytes: Encode
) -> None:
    foreign = descriptor(
        DOCKER_FOREIGN_LAYER,
        b"windows base",
        urls=["https://mcr.microsoft.com/v2/windows/blobs/sha256:0"],
    )
    docker_manifest["layers"].insert(0, foreign)
    manifest = parse_manifest(to_bytes(docker_manifest), DOCKER_MANIFEST)
    assert [d.digest for d in manifest.layers] == [Digest.of(b"layer-1")]
    assert manifest.raw["layers"][0] == foreign


def test_foreign_layer_without_urls_is_invalid(
    docker_manifest: dict[str, Any], descriptor: Builder, to_bytes: Encode
) -> None:
    docker_manifest["layers"].append(descriptor(DOCKER_FOREIGN_LAYER, b"windows base"))
    with pytest.raises(ManifestInvalid, match="foreign layer without urls"):
        parse_manifest(to_bytes(docker_manifest), DOCKER_MANIFEST)


def test_foreign_layer_url_with_fragment_is_invalid(
    docker_manifest: dict[str, Any], descriptor: Builder, to_bytes: Encode
) -> None:
    docker_manifest["layers"].append(
        descriptor(DOCKER_FOREIGN_LAYER, b"w", urls=["https://example.com/l#frag"])
    )
    with pytest.raises(ManifestInvalid, match="fragment"):
        parse_manifest(to_bytes(docker_manifest), DOCKER_MANIFEST)


def test_ordinary_layer_with_urls_is_still_required(
    docker_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    docker_manifest["layers"][0]["urls"] = ["https://example.com/layer"]
    manifest = parse_manifest(to_bytes(docker_manifest), DOCKER_MANIFEST)
    assert [d.digest for d in manifest.layers] == [Digest.of(b"layer-1")]


def test_manifest_list_parses_entries_with_platform(
    docker_list: dict[str, Any], to_bytes: Encode
) -> None:
    manifest = parse_manifest(to_bytes(docker_list), DOCKER_MANIFEST_LIST)
    assert manifest.media_type == DOCKER_MANIFEST_LIST
    assert manifest.is_index
    (child,) = manifest.manifests
    assert child.media_type == DOCKER_MANIFEST
    assert child.platform == {"architecture": "arm64", "os": "linux", "variant": "v8"}


def test_manifest_list_requires_media_type_in_body(
    docker_list: dict[str, Any], to_bytes: Encode
) -> None:
    del docker_list["mediaType"]
    with pytest.raises(ManifestInvalid, match="mediaType"):
        parse_manifest(to_bytes(docker_list), DOCKER_MANIFEST_LIST)


def test_manifest_list_with_layers_field_is_invalid(
    docker_list: dict[str, Any], docker_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    docker_list["layers"] = docker_manifest["layers"]
    with pytest.raises(ManifestInvalid, match="layers"):
        parse_manifest(to_bytes(docker_list), DOCKER_MANIFEST_LIST)


def test_docker_manifest_detected_from_body_media_type(
    docker_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    manifest = parse_manifest(to_bytes(docker_manifest), None)
    assert manifest.media_type == DOCKER_MANIFEST
