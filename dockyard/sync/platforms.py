"""Platform filters of ``dockyard sync``: which children of an image index are copied.

A platform is written as containerd and docker write it, ``os/architecture[/variant]``
(``linux/amd64``, ``linux/arm64/v8``, ``linux/arm/v7``). Without a variant it matches
every variant of the architecture; with one, a child that names no variant is read with
its architecture's default (``arm64`` is ``v8``, ``arm`` is ``v7``), as containerd does.
Children that are not images of a platform but describe one (buildx's attestation
manifests, ``vnd.docker.reference.digest``) go with the image they describe.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from dockyard.descriptor import Descriptor
from dockyard.errors import DockyardError

_PART: Final = re.compile(r"[a-z0-9_.-]+")
#: The variant an architecture has when a platform names none (containerd's defaults).
_DEFAULT_VARIANT: Final = {"arm64": "v8", "arm": "v7"}
#: Names the image manifest an attestation manifest of an index describes.
_DESCRIBES: Final = "vnd.docker.reference.digest"


class PlatformInvalid(DockyardError):
    """A platform is not ``os/architecture[/variant]``."""


@dataclass(frozen=True, slots=True)
class Platform:
    """One ``os/architecture[/variant]`` a sync copies."""

    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.strip().lower().split("/")
        if not 2 <= len(parts) <= 3 or not all(_PART.fullmatch(part) for part in parts):
            raise PlatformInvalid(
                f"{text!r} is not a platform (os/architecture[/variant], e.g. linux/arm64/v8)"
            )
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    def matches(self, platform: dict[str, Any] | None) -> bool:
        """Whether an index entry's ``platform`` object is this platform."""
        if not platform:
            return False
        os_name = str(platform.get("os", "")).lower()
        architecture = str(platform.get("architecture", "")).lower()
        if (os_name, architecture) != (self.os, self.architecture):
            return False
        if self.variant is None:
            return True
        variant = platform.get("variant") or _DEFAULT_VARIANT.get(architecture)
        return str(variant).lower() == self.variant

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True, slots=True)
class PlatformFilter:
    """The platforms a sync copies of an index; every child when ``platforms`` is empty."""

    platforms: tuple[Platform, ...] = ()

    @classmethod
    def parse(cls, texts: Iterable[str]) -> PlatformFilter:
        return cls(tuple(dict.fromkeys(Platform.parse(text) for text in texts)))

    def __bool__(self) -> bool:
        return bool(self.platforms)

    def children(self, manifests: tuple[Descriptor, ...]) -> tuple[Descriptor, ...]:
        """The children of an index to copy: those of a wanted platform, and the
        attestation manifests of those."""
        if not self.platforms:
            return manifests
        chosen = [d for d in manifests if any(p.matches(d.platform) for p in self.platforms)]
        images = {str(d.digest) for d in chosen}
        return tuple(
            d
            for d in manifests
            if str(d.digest) in images or (d.annotations or {}).get(_DESCRIBES) in images
        )


__all__ = ["Platform", "PlatformFilter", "PlatformInvalid"]
