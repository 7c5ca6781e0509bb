"""Which media type a pushed manifest gets: Content-Type, body mediaType, shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dockyard.errors import ManifestInvalid
from dockyard.manifest import parse_manifest
from dockyard.manifest.base import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST

Encode = Callable[[Any], bytes]


def test_content_type_parameters_are_ignored(
    oci_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    manifest = parse_manifest(to_bytes(oci_manifest), f"{OCI_MANIFEST}; charset=utf-8")
    assert manifest.media_type == OCI_MANIFEST


def test_content_type_is_case_insensitive(oci_manifest: dict[str, Any], to_bytes: Encode) -> None:
    manifest = parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST.upper())
    assert manifest.media_type == OCI_MANIFEST


@pytest.mark.parametrize("content_type", [None, ""])
def test_missing_content_type_defers_to_body_media_type(
    content_type: str | None, oci_index: dict[str, Any], to_bytes: Encode
) -> None:
    assert parse_manifest(to_bytes(oci_index), content_type).media_type == OCI_INDEX


@pytest.mark.parametrize("content_type", ["application/json", "application/octet-stream"])
def test_generic_content_type_contradicting_body_media_type_is_invalid(
    content_type: str, oci_index: dict[str, Any], to_bytes: Encode
) -> None:
    with pytest.raises(ManifestInvalid, match="contradicts"):
        parse_manifest(to_bytes(oci_index), content_type)


def test_body_without_media_type_accepted_under_oci_manifest_content_type(
    oci_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    del oci_manifest["mediaType"]
    assert parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST).media_type == OCI_MANIFEST


def test_body_without_media_type_accepted_under_oci_index_content_type(
    oci_index: dict[str, Any], to_bytes: Encode
) -> None:
    del oci_index["mediaType"]
    assert parse_manifest(to_bytes(oci_index), OCI_INDEX).media_type == OCI_INDEX


def test_shape_with_manifests_is_an_oci_index(oci_index: dict[str, Any], to_bytes: Encode) -> None:
    del oci_index["mediaType"]
    assert parse_manifest(to_bytes(oci_index), None).media_type == OCI_INDEX


def test_shape_with_config_and_layers_is_an_oci_manifest(
    oci_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    del oci_manifest["mediaType"]
    assert parse_manifest(to_bytes(oci_manifest), "application/json").media_type == OCI_MANIFEST


def test_shapeless_body_without_media_type_is_invalid(to_bytes: Encode) -> None:
    with pytest.raises(ManifestInvalid, match="cannot tell"):
        parse_manifest(to_bytes({"schemaVersion": 2}), None)


def test_body_media_type_disagreeing_with_content_type_is_invalid(
    oci_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    with pytest.raises(ManifestInvalid, match="does not match"):
        parse_manifest(to_bytes(oci_manifest), DOCKER_MANIFEST)


def test_unknown_content_type_is_invalid(oci_manifest: dict[str, Any], to_bytes: Encode) -> None:
    with pytest.raises(ManifestInvalid, match="unsupported manifest media type"):
        parse_manifest(to_bytes(oci_manifest), "text/plain")


def test_unknown_body_media_type_is_invalid(oci_manifest: dict[str, Any], to_bytes: Encode) -> None:
    oci_manifest["mediaType"] = "application/vnd.example.thing+json"
    with pytest.raises(ManifestInvalid, match="unsupported manifest media type"):
        parse_manifest(to_bytes(oci_manifest), None)


def test_non_string_body_media_type_is_invalid(
    oci_manifest: dict[str, Any], to_bytes: Encode
) -> None:
    oci_manifest["mediaType"] = 7
    with pytest.raises(ManifestInvalid, match="mediaType must be a string"):
        parse_manifest(to_bytes(oci_manifest), OCI_MANIFEST)


def test_index_body_under_manifest_content_type_is_invalid(
    oci_index: dict[str, Any], to_bytes: Encode
) -> None:
    del oci_index["mediaType"]
    with pytest.raises(ManifestInvalid):
        parse_manifest(to_bytes(oci_index), OCI_MANIFEST)
