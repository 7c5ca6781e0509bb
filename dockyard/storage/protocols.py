"""The registry services, as typed Protocols.

The storage layer implements these; HTTP handlers use nothing else. A cache, a
pull-through proxy or a quota layer wraps them as a decorator without touching handlers
or stores. Every method raises the typed errors of ``dockyard.errors`` (``BlobUnknown``,
``ManifestBlobUnknown([...])``, ``UploadOffsetMismatch`` …), never driver errors.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.manifest.base import Manifest
from dockyard.storage.driver.base import OpenFile

if TYPE_CHECKING:
    from dockyard.gc.report import CollectionRun
    from dockyard.scrub.report import ScrubRun


@dataclass(frozen=True, slots=True)
class BlobContent:
    """How to send a blob: a byte stream, a file the driver opened, or a URL.

    Whoever sends it owns the ``file`` and closes it.
    """

    descriptor: Descriptor
    stream: AsyncIterator[bytes] | None = None
    file: OpenFile | None = None
    redirect_url: str | None = None


@dataclass(frozen=True, slots=True)
class UploadStatus:
    """Where an upload session stands: its id, how many bytes it holds, when it began."""

    repository: str
    id: str
    offset: int
    started_at: datetime


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a sorted listing; ``more`` says whether entries follow it."""

    items: list[str]
    more: bool


@dataclass(frozen=True, slots=True)
class TagRecord:
    """A tag, the digest it points at, and when it was last pointed there (its push)."""

    name: str
    digest: Digest
    pushed_at: datetime


class Blobs(Protocol):
    """The blobs linked into one repository."""

    async def stat(self, digest: Digest) -> Descriptor:
        """The blob's descriptor; ``BlobUnknown`` unless linked in this repository."""
        ...

    async def open(
        self,
        digest: Digest,
        offset: int = 0,
        length: int | None = None,
        *,
        allow_redirect: bool = False,
        method: str = "GET",
    ) -> BlobContent:
        """How to send bytes ``[offset, offset+length)`` of a linked blob.

        ``allow_redirect`` lets the store answer with a URL of the backend instead.
        """
        ...

    async def put(self, data: bytes, media_type: str = "application/octet-stream") -> Descriptor:
        """Store a small blob whole and link it (configs, manifests in tests)."""
        ...

    async def mount(self, digest: Digest, source: str) -> Descriptor:
        """Link a blob already linked in repository ``source``; ``BlobUnknown`` otherwise."""
        ...

    async def delete(self, digest: Digest) -> None:
        """Unlink the blob from this repository (the content stays until GC)."""
        ...


class Uploads(Protocol):
    """Resumable blob upload sessions of one repository."""

    async def create(self) -> UploadStatus:
        """Open a new, empty upload session."""
        ...

    async def status(self, upload_id: str) -> UploadStatus:
        """The session's state; ``BlobUploadUnknown`` if it does not exist."""
        ...

    async def append(
        self, upload_id: str, offset: int, chunks: AsyncIterable[bytes]
    ) -> UploadStatus:
        """Append a chunk that must start at ``offset``, the session's current size.

        Raises ``UploadOffsetMismatch`` (carrying the current size) for any other offset.
        The hash state is saved with the data, so the session resumes anywhere.
        """
        ...

    async def commit(
        self,
        upload_id: str,
        digest: Digest,
        size: int | None = None,
        final_chunks: AsyncIterable[bytes] | None = None,
    ) -> Descriptor:
        """Append optional final data, verify digest (and size), publish and link the blob.

        ``DigestInvalid`` on mismatch, ``SizeInvalid`` on a size mismatch; the session
        is removed either way.
        """
        ...

    async def upload(
        self, digest: Digest, chunks: AsyncIterable[bytes] | None = None
    ) -> Descriptor:
        """Store a whole blob sent in one request (a monolithic upload), without a session.

        Verifies like ``commit``: ``DigestInvalid`` on mismatch, nothing kept then.
        """
        ...

    async def cancel(self, upload_id: str) -> None:
        """Discard the session and its data; ``BlobUploadUnknown`` if it does not exist."""
        ...

    async def purge(self, older_than: timedelta) -> int:
        """Remove sessions started longer ago than ``older_than``; returns how many."""
        ...


class Manifests(Protocol):
    """The manifests of one repository, named by digest or by tag."""

    async def get(self, reference: Digest | str) -> Manifest:
        """The stored manifest a digest or a tag names, bytes exact.

        ``ManifestUnknown`` if the digest is not in the repository, ``TagUnknown`` if
        the tag is not (``TagInvalid`` for a malformed one).
        """
        ...

    async def stat(self, reference: Digest | str) -> Descriptor:
        """The descriptor (media type, size) of the manifest a digest or a tag names,
        without parsing the body; the errors of ``get``."""
        ...

    async def put(
        self, body: bytes, media_type: str | None, expected: Digest | None = None
    ) -> Manifest:
        """Parse, verify and store a manifest, and index its ``subject``.

        Raises ``ManifestTooLarge``, ``ManifestInvalid``, ``ManifestUnverified``,
        ``ManifestBlobUnknown`` (every missing digest) or ``DigestInvalid`` when
        ``expected`` does not match the body.
        """
        ...

    async def delete(self, digest: Digest) -> None:
        """Remove the revision, every tag pointing at it, and its referrers entry."""
        ...


class Tags(Protocol):
    """The tags of one repository."""

    async def resolve(self, tag: str) -> Digest:
        """The digest a tag points at; ``TagUnknown`` if absent."""
        ...

    async def tag(self, tag: str, digest: Digest) -> None:
        """Point ``tag`` at ``digest`` (which must be a stored manifest)."""
        ...

    async def untag(self, tag: str) -> None:
        """Remove the tag; ``TagUnknown`` if absent."""
        ...

    async def list(self, last: str | None = None, n: int | None = None) -> Page:
        """Tags sorted lexically, after ``last``, at most ``n``."""
        ...

    async def lookup(self, digest: Digest) -> builtins.list[str]:
        """Every tag currently pointing at ``digest``."""
        ...

    async def describe(self, tags: Sequence[str]) -> builtins.list[TagRecord]:
        """Each of ``tags`` with its digest and push time, in order; absent tags left out."""
        ...


class Referrers(Protocol):
    """The referrers index of one repository: subject digest → referring manifests."""

    async def list(
        self, subject: Digest, artifact_type: str | None = None
    ) -> builtins.list[Descriptor]:
        """Descriptors of manifests whose ``subject`` is ``subject``, optionally filtered."""
        ...

    async def rebuild(self) -> int:
        """Rebuild the index from the stored manifests; returns the entries written."""
        ...


class Repository(Protocol):
    """One repository and its services."""

    @property
    def name(self) -> str: ...

    @property
    def blobs(self) -> Blobs: ...

    @property
    def uploads(self) -> Uploads: ...

    @property
    def manifests(self) -> Manifests: ...

    @property
    def tags(self) -> Tags: ...

    @property
    def referrers(self) -> Referrers: ...

    async def exists(self) -> bool:
        """Whether anything has been pushed to the repository."""
        ...


class Registry(Protocol):
    """The registry: repositories and the catalog."""

    def repository(self, name: str) -> Repository:
        """The repository called ``name`` (validated; ``NameInvalid`` otherwise)."""
        ...

    async def catalog(self, last: str | None = None, n: int | None = None) -> Page:
        """Repository names sorted lexically, after ``last``, at most ``n``."""
        ...

    async def upload_sessions(self, repositories: Sequence[str]) -> list[UploadStatus]:
        """The open upload sessions of ``repositories``, oldest first."""
        ...

    async def last_collection(self) -> CollectionRun | None:
        """What the last garbage collection did; None if none ran."""
        ...

    async def last_scrub(self) -> ScrubRun | None:
        """What the last scrub checked and found; None if none ran."""
        ...
