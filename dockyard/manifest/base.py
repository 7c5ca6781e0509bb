"""What every parsed manifest offers the stores, whatever its media type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest

#: The largest manifest body accepted (the reference registry's and the spec's 4 MiB).
MAX_MANIFEST_SIZE: Final = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Manifest:
    """A parsed, validated manifest of any supported media type.

    ``body`` is kept byte-exact: it is what gets stored and served. ``digest`` is the
    digest clients address the manifest by (for schema1 signed manifests, the digest of
    the canonical payload, as the reference computes it).
    """

    media_type: str
    body: bytes
    digest: Digest
    config: Descriptor | None = None
    layers: tuple[Descriptor, ...] = ()
    manifests: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = field(default=None, compare=False)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def blob_references(self) -> tuple[Descriptor, ...]:
        """Blobs that must be linked in the repository: the config and the layers."""
        return ((self.config,) if self.config is not None else ()) + self.layers

    @property
    def is_index(self) -> bool:
        """Whether this manifest lists other manifests (OCI index, Docker manifest list)."""
        return bool(self.manifests) or self.media_type in INDEX_MEDIA_TYPES

    def descriptor(self) -> Descriptor:
        """This manifest as a descriptor (as listed by the referrers API)."""
        return Descriptor(
            media_type=self.media_type,
            digest=self.digest,
            size=len(self.body),
            artifact_type=self.artifact_type or (self.config.media_type if self.config else None),
            annotations=self.annotations,
        )


OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY_CONFIG: Final = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1: Final = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED: Final = "application/vnd.docker.distribution.manifest.v1+prettyjws"

INDEX_MEDIA_TYPES: Final = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFEST_MEDIA_TYPES: Final = frozenset(
    {
        OCI_MANIFEST,
        OCI_INDEX,
        DOCKER_MANIFEST,
        DOCKER_MANIFEST_LIST,
        DOCKER_SCHEMA1,
        DOCKER_SCHEMA1_SIGNED,
    }
)
