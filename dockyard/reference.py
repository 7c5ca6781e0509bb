"""Repository names, tags and references, by the OCI distribution-spec grammar."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from dockyard.digest import Digest
from dockyard.errors import NameInvalid, TagInvalid

NAME_MAX_LENGTH: Final = 255
TAG_MAX_LENGTH: Final = 128

_COMPONENT: Final = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_PATTERN: Final = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
#: One path component of a repository name (no ``/``).
COMPONENT_PATTERN: Final = re.compile(_COMPONENT)
TAG_PATTERN: Final = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid repository name, else raise ``NameInvalid``."""
    if len(name) > NAME_MAX_LENGTH:
        raise NameInvalid(f"repository name is longer than {NAME_MAX_LENGTH} characters")
    if not NAME_PATTERN.fullmatch(name):
        raise NameInvalid(f"invalid repository name {name[:NAME_MAX_LENGTH]!r}")
    return name


def validate_tag(tag: str) -> str:
    """Return ``tag`` if it is a valid tag, else raise ``TagInvalid``."""
    if not TAG_PATTERN.fullmatch(tag):
        raise TagInvalid(f"invalid tag {tag[: TAG_MAX_LENGTH + 1]!r}")
    return tag


def is_valid_name(name: str) -> bool:
    return len(name) <= NAME_MAX_LENGTH and NAME_PATTERN.fullmatch(name) is not None


def is_valid_component(text: str) -> bool:
    """Whether ``text`` is one valid path component of a repository name."""
    return len(text) <= NAME_MAX_LENGTH and COMPONENT_PATTERN.fullmatch(text) is not None


def is_valid_tag(tag: str) -> bool:
    return TAG_PATTERN.fullmatch(tag) is not None


@dataclass(frozen=True, slots=True)
class Reference:
    """A manifest reference inside a repository: a tag or a digest."""

    tag: str | None = None
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse the ``<reference>`` of ``/v2/<name>/manifests/<reference>``."""
        if ":" in text:
            return cls(digest=Digest.parse(text))
        return cls(tag=validate_tag(text))

    def __str__(self) -> str:
        return str(self.digest) if self.digest is not None else str(self.tag)
