"""Malformed manifests are refused with a typed error that says what is wrong."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dockyard.errors import ManifestInvalid, ManifestTooLarge
from dockyard.manifest import MAX_MANIFEST_SIZE, parse_manifest
from dockyard.manifest.base import OCI_MANIFEST
from dockyard.manifest.oci import parse_oci_manifest

Encode = Callable[[Any], bytes]


def test_body_over_the_limit_is_too_large() -> None:
    body = b"{" + b" " * MAX_MANIFEST_SIZE + b"}"
    with pytest.raises(ManifestTooLarge) as caught:
        parse_manifest(body, OCI_MANIFEST)
    assert caught.value.detail == {"size": len(body), "limit": MAX_MANIFEST_SIZE}


def test_body_at_the_limit_is_parsed(oci_manifest: dict[str, Any], to_bytes: Encode) -> None:
    body = to_bytes(oci_manifest)
    body = body + b" " * (MAX_MANIFEST_SIZE - len(body))
    assert parse_manifest(body, OCI_MANIFEST).body == body


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"{", b"\xff\xfe{}", b'{"a": NaN}', b"\xef\xbb\xbf{}", b"[" * 100_000],
    ids=["empty", "text", "truncated", "not-utf8", "nan", "bom", "deep"],
)
def test_non_json_body_is_invalid(body: bytes) -> None:
    with pytest.raises(ManifestInvalid, match="not valid UTF-8 JSON"):
        parse_manifest(body, OCI_MANIFEST)


@pytest.mark.parametrize("body", [b"[]", b'"manifest"', b"2", b"null"])
def test_non_object_body_is_invalid(body: bytes) -> None:
    with pytest.raises(ManifestInvalid, match="must be a JSON object"):
        parse_manifest(body, OCI_MANIFEST)


@pytest.mark.parametrize("version", [1, 3, "2", 2.0, True, None])
def test_wrong_schema_version_is_invalid(
    version: Any, oci_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    oci_manifest["schemaVersion"] = version
    with pytest.raises(ManifestInvalid, match="schemaVersion"):
        parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)


def test_missing_config_is_invalid(oci_manifest: dict[str, Any], to_bytes: Encode) -> None:
    del oci_manifest["config"]
    with pytest.raises(ManifestInvalid, match="config is required"):
        parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)


def test_config_that_is_not_an_object_is_invalid(
    oci_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    oci_manifest["config"] = "sha256:abc"
    with pytest.raises(ManifestInvalid, match="config must be an object"):
        parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)


def test_layers_that_are_not_an_array_are_invalid(
    oci_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    oci_manifest["layers"] = oci_manifest["layers"][0]
    with pytest.raises(ManifestInvalid, match="layers must be an array"):
        parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)


@pytest.mark.parametrize(
    "digest",
    ["sha256:abc", "md5:" + "a" * 32, "a" * 64, "sha256:" + "A" * 64, 7, None],
    ids=["short", "unknown-algorithm", "no-algorithm", "uppercase", "number", "missing"],
)
def test_invalid_layer_digest_is_manifest_invalid(
    digest: Any, oci_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    oci_manifest["layers"][0]["digest"] = digest
    with pytest.raises(ManifestInvalid, match=r"layers\[0\]\.digest"):
        parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)


def test_invalid_config_digest_is_manifest_invalid(
    oci_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    oci_manifest["config"]["digest"] = "sha256:zz"
    with pytest.raises(ManifestInvalid, match=r"config\.digest is invalid"):
        parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)


@pytest.mark.parametrize("size", [-1, 1.5, 2.0, "12", True, None, 2**63], ids=str)
def test_size_that_is_not_a_non_negative_integer_is_invalid(
    size: Any, oci_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    oci_manifest["layers"][0]["size"] = size
    with pytest.raises(ManifestInvalid, match=r"layers\[0\]\.size"):
        parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)


@pytest.mark.parametrize("media_type", [7, None, "", ["a"]], ids=str)
def test_descriptor_media_type_must_be_a_string(
    media_type: Any, oci_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    oci_manifest["layers"][0]["mediaType"] = media_type
    with pytest.raises(ManifestInvalid, match=r"layers\[0\]\.mediaType"):
        parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)


def test_annotation_values_must_be_strings(oci_manifest: dict[str, Any], to_bytes: Encode) -> None:
    oci_manifest["annotations"] = {"count": 3}
    with pytest.raises(ManifestInvalid, match="annotations"):
        parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)


def test_artifact_type_must_be_a_string(oci_manifest: dict[str, Any], to_bytes: Encode) -> None:
    oci_manifest["artifactType"] = {"type": "sbom"}
    with pytest.raises(ManifestInvalid, match="artifactType"):
        parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)


def test_subject_with_invalid_digest_is_invalid(
    oci_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    oci_manifest["subject"] = {"mediaType": OCI_MANIFEST, "digest": "sha256:x", "size": 1}
    with pytest.raises(ManifestInvalid, match=r"subject\.digest"):
        parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)


def test_urls_must_be_strings(oci_manifest: dict[str, Any], to_bytes: Encode) -> None:
    oci_manifest["layers"][0]["urls"] = "https://example.com/layer"
    with pytest.raises(ManifestInvalid, match=r"layers\[0\]\.urls"):
        parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)


def test_embedded_data_must_be_base64(oci_manifest: dict[str, Any], to_bytes: Encode) -> None:
    oci_manifest["config"]["data"] = "not base64!"
    with pytest.raises(ManifestInvalid, match=r"config\.data"):
        parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)


def test_oci_body_media_type_of_another_type_is_invalid(
    oci_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    oci_manifest["mediaType"] = "application/vnd.oci.image.index.v1+json"
    with pytest.raises(ManifestInvalid, match="mediaType"):
        parse_oci_manifest(to_bytes(oci_manifest), oci_manifest)
