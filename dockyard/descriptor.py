"""Content descriptors: what a manifest says about the content it points at."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dockyard.digest import Digest


@dataclass(frozen=True, slots=True)
class Descriptor:
    """An OCI content descriptor (image-spec ``descriptor.md``)."""

    media_type: str
    digest: Digest
    size: int
    artifact_type: str | None = None
    annotations: dict[str, str] | None = field(default=None, hash=False, compare=False)
    platform: dict[str, Any] | None = field(default=None, hash=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The descriptor as OCI JSON, omitting absent optional fields."""
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform:
            out["platform"] = dict(self.platform)
        return out
