"""Typed errors raised below the HTTP layer.

Stores, drivers and parsers raise these; ``dockyard.api.errors`` maps each class to an
OCI error code and HTTP status in one table. Messages are safe to show to clients: they
never contain storage paths, configuration or secrets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class DockyardError(Exception):
    """Base of every error dockyard raises on purpose."""

    def __init__(self, message: str = "", detail: Any = None) -> None:
        self.message = message or (self.__doc__ or type(self).__name__).strip().splitlines()[0]
        self.detail = detail
        super().__init__(self.message)


# --- input validation ---------------------------------------------------------------------


class DigestInvalid(DockyardError):
    """The digest is malformed, uses an unsupported algorithm, or does not match content."""


class NameInvalid(DockyardError):
    """The repository name is not valid."""


class TagInvalid(DockyardError):
    """The tag is not valid."""


class SizeInvalid(DockyardError):
    """The content length does not match the declared size."""


class RangeInvalid(DockyardError):
    """The requested range is malformed or cannot be satisfied."""


# --- content ------------------------------------------------------------------------------


class NameUnknown(DockyardError):
    """The repository is not known to the registry."""


class BlobUnknown(DockyardError):
    """The blob is not known to the registry."""

    def __init__(self, digest: object, message: str = "") -> None:
        super().__init__(message or f"blob {digest} is unknown", detail={"digest": str(digest)})
        self.digest = digest


class BlobUploadUnknown(DockyardError):
    """The upload session is not known to the registry."""


class BlobUploadInvalid(DockyardError):
    """The upload is invalid."""


class UploadOffsetMismatch(BlobUploadInvalid):
    """A chunk did not start at the upload's current size."""

    def __init__(self, expected: int, got: int) -> None:
        super().__init__(
            f"chunk starts at byte {got}, but the upload holds {expected} bytes",
            detail={"expected": expected, "got": got},
        )
        self.expected = expected
        self.got = got


class ManifestUnknown(DockyardError):
    """The manifest is not known to the repository."""


class ManifestInvalid(DockyardError):
    """The manifest is invalid."""


class ManifestUnverified(DockyardError):
    """The manifest's signature could not be verified."""


class ManifestTooLarge(DockyardError):
    """The manifest is larger than the registry accepts."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"manifest of {size} bytes exceeds the limit of {limit} bytes",
            detail={"size": size, "limit": limit},
        )


class ManifestBlobUnknown(DockyardError):
    """The manifest references blobs or manifests that the repository does not hold."""

    def __init__(self, digests: Sequence[object]) -> None:
        names = [str(d) for d in digests]
        super().__init__(
            f"manifest references {len(names)} unknown blob(s): {', '.join(names)}",
            detail={"digests": names},
        )
        self.digests = list(digests)


class TagUnknown(ManifestUnknown):
    """The tag is not known to the repository."""


# --- operations ---------------------------------------------------------------------------


class Unsupported(DockyardError):
    """The operation is unsupported."""


class ReadOnly(Unsupported):
    """The registry is in read-only mode."""


class Denied(DockyardError):
    """The requested access to the resource is denied."""


class Unauthorized(DockyardError):
    """Authentication is required."""


class TooManyRequests(DockyardError):
    """Too many requests."""


class StorageUnavailable(DockyardError):
    """The storage cannot serve the request now; retrying later can help."""
