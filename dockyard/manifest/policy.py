"""What the registry demands of a pushed manifest beyond its format: the reference's
``validation.manifests`` settings.

- ``urls.allow`` / ``urls.deny``: regular expressions (searched, as Go's ``MatchString``)
  that the URLs of foreign and non-distributable layers must match / must not match.
  Without ``allow`` any http(s) URL is allowed, as the reference's code does.
- ``indexes.platforms``: which child manifests of an index must already be in the
  repository: ``all`` (the default), ``none`` (sparse indexes, such as the conformance
  suite's "sparse manifests"), or ``list``: only the children whose platform's
  architecture and OS are in ``indexes.platformlist``.

The stores call ``ManifestPolicy.admit`` once per push, after parsing and before checking
references; ``dockyard.assembly`` builds the policy from the configuration and hands it
to the registry, whose repositories' manifest stores follow it. ``dockyard sync``
with a platform filter stores an index with only some of its children, its digest kept:
it names those children with ``storing_sparse`` around its own push.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from dockyard.digest import Digest
from dockyard.errors import ManifestInvalid
from dockyard.manifest.base import Manifest
from dockyard.manifest.external import external_layers

if TYPE_CHECKING:
    from dockyard.config.model import ValidationConfig

INDEX_PLATFORMS: Final = ("all", "none", "list")


@dataclass(frozen=True, slots=True)
class Platform:
    """A platform an index's children are checked for (``indexes.platformlist``)."""

    architecture: str
    os: str


@dataclass(frozen=True, slots=True)
class ManifestPolicy:
    """The configured demands on pushed manifests; the default demands nothing extra."""

    urls_allow: tuple[str, ...] = ()
    urls_deny: tuple[str, ...] = ()
    index_platforms: str = "all"
    platform_list: tuple[Platform, ...] = ()
    _allow: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _deny: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.index_platforms not in INDEX_PLATFORMS:
            raise ValueError(f"index platforms must be one of {', '.join(INDEX_PLATFORMS)}")
        object.__setattr__(self, "_allow", _joined(self.urls_allow))
        object.__setattr__(self, "_deny", _joined(self.urls_deny))

    def admit(self, manifest: Manifest) -> tuple[Digest, ...]:
        """Check a pushed manifest's layer URLs (``ManifestInvalid`` naming the layer), and
        return the digests of the child manifests that must already be in the repository."""
        self._check_urls(manifest)
        return self.required_children(manifest)

    def required_children(self, manifest: Manifest) -> tuple[Digest, ...]:
        if self.index_platforms == "none":
            return ()
        children = manifest.manifests
        present = _sparse_children.get()
        if present is not None:
            children = tuple(c for c in children if c.digest in present)
        if self.index_platforms == "list":
            children = tuple(c for c in children if self._listed(c.platform))
        return tuple(dict.fromkeys(c.digest for c in children))

    def _listed(self, platform: dict[str, object] | None) -> bool:
        if not platform:
            return False
        wanted = Platform(str(platform.get("architecture", "")), str(platform.get("os", "")))
        return wanted in self.platform_list

    def _check_urls(self, manifest: Manifest) -> None:
        if self._allow is None and self._deny is None:
            return
        for layer, urls in external_layers(manifest):
            for url in urls:
                if self._allow is not None and not self._allow.search(url):
                    raise ManifestInvalid(
                        f"layer URL {url[:200]!r} is not allowed by this registry",
                        detail={"url": url[:200], "digest": str(layer.digest)},
                    )
                if self._deny is not None and self._deny.search(url):
                    raise ManifestInvalid(
                        f"layer URL {url[:200]!r} is denied by this registry",
                        detail={"url": url[:200], "digest": str(layer.digest)},
                    )


def _joined(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None


def from_config(validation: ValidationConfig) -> ManifestPolicy:
    """The policy the ``validation`` section of the configuration describes."""
    return ManifestPolicy(
        urls_allow=validation.manifest_urls_allow,
        urls_deny=validation.manifest_urls_deny,
        index_platforms=validation.index_platforms,
        platform_list=tuple(Platform(*pair) for pair in validation.index_platformlist),
    )


#: The children an index pushed in this context needs, set by ``storing_sparse``.
_sparse_children: ContextVar[frozenset[Digest] | None] = ContextVar("sparse_children", default=None)


@contextmanager
def storing_sparse(children: Iterable[Digest]) -> Iterator[None]:
    """Within the block (in this task), an index needs only those of its children that
    are in ``children`` (and that the policy demands): the others may be absent."""
    token = _sparse_children.set(frozenset(children))
    try:
        yield
    finally:
        _sparse_children.reset(token)
