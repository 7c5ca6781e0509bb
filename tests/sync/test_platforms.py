"""Platform filters that select the children of an index for ``dockyard sync``."""

from __future__ import annotations

import pytest

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.sync.platforms import Platform, PlatformFilter, PlatformInvalid

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def child(
    name: str, platform: dict[str, str], annotations: dict[str, str] | None = None
) -> Descriptor:
    return Descriptor(MANIFEST, Digest.of(name.encode()), 100, None, annotations, platform)


def test_platform_without_a_variant_matches_every_variant_of_its_architecture() -> None:
    arm = Platform.parse("linux/arm")
    assert arm.matches({"os": "linux", "architecture": "arm", "variant": "v6"})
    assert arm.matches({"os": "linux", "architecture": "arm", "variant": "v7"})
    assert not arm.matches({"os": "linux", "architecture": "arm64"})


def test_child_naming_no_variant_has_its_architectures_default_one() -> None:
    assert Platform.parse("linux/arm64/v8").matches({"os": "linux", "architecture": "arm64"})
    assert not Platform.parse("linux/arm/v6").matches({"os": "linux", "architecture": "arm"})


def test_attestation_manifest_goes_with_the_image_it_describes() -> None:
    amd64 = child("amd64", {"os": "linux", "architecture": "amd64"})
    arm64 = child("arm64", {"os": "linux", "architecture": "arm64"})
    unknown = {"os": "unknown", "architecture": "unknown"}
    attests_amd64 = child("a1", unknown, {"vnd.docker.reference.digest": str(amd64.digest)})
    attests_arm64 = child("a2", unknown, {"vnd.docker.reference.digest": str(arm64.digest)})
    manifests = (amd64, arm64, attests_amd64, attests_arm64)

    chosen = PlatformFilter.parse(["linux/amd64"]).children(manifests)

    assert chosen == (amd64, attests_amd64)


def test_empty_filter_selects_every_child() -> None:
    manifests = (child("x", {}), child("y", {"os": "windows", "architecture": "amd64"}))
    assert PlatformFilter.parse([]).children(manifests) == manifests


@pytest.mark.parametrize("text", ["amd64", "linux/", "linux/arm/v7/extra", "linux/AMD 64"])
def test_unreadable_platform_is_refused(text: str) -> None:
    with pytest.raises(PlatformInvalid):
        Platform.parse(text)
