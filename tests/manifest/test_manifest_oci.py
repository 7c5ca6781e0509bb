"""OCI image manifests, image indexes and artifacts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dockyard.digest import Digest
from dockyard.errors import ManifestInvalid
from dockyard.manifest import parse_manifest
from dockyard.manifest.base import OCI_EMPTY_CONFIG, OCI_INDEX, OCI_MANIFEST

Builder = Callable[..., dict[str, Any]]
Encode = Callable[[Any], bytes]

ARTIFACT_TYPE = "application/vnd.example.sbom.v1+json"


def test_image_manifest_parses_config_and_layers(
    oci_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    body = to_bytes(oci_manifest)
    manifest = parse_manifest(body, OCI_MANIFEST)
    assert manifest.media_type == OCI_MANIFEST
    assert manifest.config is not None
    assert manifest.config.to_json() == oci_manifest["config"]
    assert [layer.to_json() for layer in manifest.layers] == oci_manifest["layers"]
    assert manifest.manifests == ()
    assert not manifest.is_index


def test_manifest_digest_is_sha256_of_body_bytes(
    oci_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    body = to_bytes(oci_manifest) + b"\n"
    assert parse_manifest(body, OCI_MANIFEST).digest == Digest.of(body)


def test_manifest_keeps_body_byte_exact_and_raw_json(
    oci_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    body = b"  " + to_bytes(oci_manifest) + b"  "
    manifest = parse_manifest(body, OCI_MANIFEST)
    assert manifest.body == body
    assert manifest.raw == oci_manifest


def test_blob_references_are_config_then_layers(
    oci_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    manifest = parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)
    assert [str(d.digest) for d in manifest.blob_references] == [
        oci_manifest["config"]["digest"],
        oci_manifest["layers"][0]["digest"],
    ]


def test_manifest_annotations_are_extracted(oci_manifest: dict[str, Any], to_bytes: Encode) -> None:
    oci_manifest["annotations"] = {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}
    manifest = parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)
    assert manifest.annotations == oci_manifest["annotations"]


def test_layer_annotations_are_kept_on_descriptor(
    oci_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    oci_manifest["layers"][0]["annotations"] = {"org.opencontainers.image.title": "a.txt"}
    manifest = parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)
    assert manifest.layers[0].annotations == {"org.opencontainers.image.title": "a.txt"}


def test_artifact_with_empty_config_and_no_layers_parses(
    descriptor: Builder, to_bytes: Encode
) -> None:
    body = to_bytes(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": descriptor(OCI_EMPTY_CONFIG, b"{}"),
            "layers": [],
        }
    )
    manifest = parse_manifest(body, OCI_MANIFEST)
    assert manifest.artifact_type == ARTIFACT_TYPE
    assert manifest.layers == ()
    assert manifest.config is not None
    assert manifest.config.media_type == OCI_EMPTY_CONFIG


def test_empty_config_without_artifact_type_is_accepted_like_the_reference(
    descriptor: Builder, to_bytes: Encode
) -> None:
    body = to_bytes(
        {"schemaVersion": 2, "config": descriptor(OCI_EMPTY_CONFIG, b"{}"), "layers": []}
    )
    manifest = parse_manifest(body, OCI_MANIFEST)
    assert manifest.artifact_type is None
    assert manifest.descriptor().artifact_type == OCI_EMPTY_CONFIG


def test_missing_layers_read_as_empty(oci_manifest: dict[str, Any], to_bytes: Encode) -> None:
    del oci_manifest["layers"]
    assert parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST).layers == ()


def test_subject_is_extracted(
    oci_manifest: dict[str, Any], descriptor: Builder, to_bytes: Encode
) -> None:
    oci_manifest["subject"] = descriptor(OCI_MANIFEST, b"the image")
    manifest = parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)
    assert manifest.subject is not None
    assert manifest.subject.digest == Digest.of(b"the image")
    assert manifest.subject.media_type == OCI_MANIFEST


def test_descriptor_uses_artifact_type_when_set(
    oci_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    oci_manifest["artifactType"] = ARTIFACT_TYPE
    oci_manifest["annotations"] = {"a": "b"}
    body = to_bytes(oci_manifest)
    described = parse_manifest(body, OCI_MANIFEST).descriptor()
    assert described.artifact_type == ARTIFACT_TYPE
    assert described.digest == Digest.of(body)
    assert described.size == len(body)
    assert described.media_type == OCI_MANIFEST
    assert described.annotations == {"a": "b"}


def test_descriptor_falls_back_to_config_media_type(
    oci_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    described = parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST).descriptor()
    assert described.artifact_type == oci_manifest["config"]["mediaType"]


def test_nondistributable_layer_with_urls_is_not_required(
    oci_manifest: dict[str, Any], descriptor: Builder, to_bytes: Encode
) -> None:
    external = descriptor(
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        b"windows base",
        urls=["https://example.com/layer.tar.gz"],
    )
    oci_manifest["layers"].insert(0, external)
    manifest = parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)
    assert [d.digest for d in manifest.layers] == [Digest.of(b"layer-1")]
    assert manifest.raw["layers"][0] == external


def test_layer_with_non_http_url_is_invalid(oci_manifest: dict[str, Any], to_bytes: Encode) -> None:
    oci_manifest["layers"][0]["urls"] = ["file:///etc/passwd"]
    with pytest.raises(ManifestInvalid, match=r"layers\[0\]\.urls\[0\]"):
        parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)


def test_ordinary_layer_with_urls_is_still_required(
    oci_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    oci_manifest["layers"][0]["urls"] = ["https://example.com/layer.tar.gz"]
    manifest = parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)
    assert [d.digest for d in manifest.layers] == [Digest.of(b"layer-1")]


def test_urls_of_non_layer_descriptors_are_not_checked(
    oci_manifest: dict[str, Any], descriptor: Builder, to_bytes: Encode
) -> None:
    oci_manifest["layers"].append(
        descriptor("application/vnd.example.data", b"d", urls=["s3://bucket/key"])
    )
    manifest = parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)
    assert manifest.layers[-1].digest == Digest.of(b"d")


def test_nondistributable_layer_without_urls_is_required(
    oci_manifest: dict[str, Any], descriptor: Builder, to_bytes: Encode
) -> None:
    oci_manifest["layers"] = [
        descriptor("application/vnd.oci.image.layer.nondistributable.v1.tar", b"nd")
    ]
    manifest = parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)
    assert [d.digest for d in manifest.layers] == [Digest.of(b"nd")]


def test_manifest_with_manifests_field_is_invalid(
    oci_manifest: dict[str, Any], oci_index: dict[str, Any], to_bytes: Encode
) -> None:
    oci_manifest["manifests"] = oci_index["manifests"]
    with pytest.raises(ManifestInvalid, match="manifests"):
        parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)


def test_index_parses_manifests_with_platform(oci_index: dict[str, Any], to_bytes: Encode) -> None:
    manifest = parse_manifest(to_bytes(oci_index), OCI_INDEX)
    assert manifest.media_type == OCI_INDEX
    assert manifest.is_index
    assert manifest.config is None
    assert manifest.blob_references == ()
    (child,) = manifest.manifests
    assert child.digest == Digest.of(b"child")
    assert child.platform == {"architecture": "amd64", "os": "linux"}


def test_empty_index_is_an_index(to_bytes: Encode) -> None:
    manifest = parse_manifest(to_bytes({"schemaVersion": 2, "manifests": []}), OCI_INDEX)
    assert manifest.is_index
    assert manifest.manifests == ()


def test_index_subject_and_artifact_type_are_extracted(
    oci_index: dict[str, Any], descriptor: Builder, to_bytes: Encode
) -> None:
    oci_index["subject"] = descriptor(OCI_MANIFEST, b"the image")
    oci_index["artifactType"] = ARTIFACT_TYPE
    manifest = parse_manifest(to_bytes(oci_index), OCI_INDEX)
    assert manifest.subject is not None
    assert manifest.subject.digest == Digest.of(b"the image")
    assert manifest.artifact_type == ARTIFACT_TYPE
    assert manifest.descriptor().artifact_type == ARTIFACT_TYPE


def test_index_with_config_field_is_invalid(
    oci_index: dict[str, Any], oci_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    oci_index["config"] = oci_manifest["config"]
    with pytest.raises(ManifestInvalid, match="config"):
        parse_manifest(to_bytes(oci_index), OCI_INDEX)


def test_index_platform_must_be_an_object(oci_index: dict[str, Any], to_bytes: Encode) -> None:
    oci_index["manifests"][0]["platform"] = "linux/amd64"
    with pytest.raises(ManifestInvalid, match=r"manifests\[0\]\.platform"):
        parse_manifest(to_bytes(oci_index), OCI_INDEX)


def test_index_platform_os_features_must_be_strings(
    oci_index: dict[str, Any], to_bytes: Encode
) -> None:
    oci_index["manifests"][0]["platform"]["os.features"] = [1]
    with pytest.raises(ManifestInvalid, match=r"os\.features"):
        parse_manifest(to_bytes(oci_index), OCI_INDEX)
