"""Blob stores: the registry-wide content-addressed store and the per-repository view.

Content lives once, at ``blobs/<alg>/<xx>/<hex>/data``; a repository sees a blob only
through a link file under its ``_layers`` folder holding the digest. Content is always
made durable before a link to it is written, so a crash leaves unreferenced bytes for
the garbage collector, never a link to nothing.
"""

from __future__ import annotations

import functools
from typing import Final

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.errors import BlobUnknown, DigestInvalid, RangeInvalid
from dockyard.gc.guard import hold_blob
from dockyard.reference import is_valid_name
from dockyard.storage import paths
from dockyard.storage.cache.base import BlobDescriptorCache
from dockyard.storage.driver.base import InvalidOffset, PathNotFound, StorageDriver
from dockyard.storage.driver.plan import Durability, Plan, Put, Read, Size
from dockyard.storage.protocols import BlobContent

#: What ``stat`` reports as a blob's media type: the store does not know better.
BLOB_MEDIA_TYPE: Final = "application/octet-stream"


# --- link files ---------------------------------------------------------------------------
#
# A link file holds a digest string (no newline, as the reference registry writes it).
# These are the only functions that read or write one.


def link_target(content: bytes | None) -> Digest | None:
    """The digest a link file's content names; None if there is none or it is damaged
    (a damaged link points nowhere useful, like a missing one)."""
    if content is None:
        return None
    try:
        return Digest.parse(content.decode("ascii", "replace").strip())
    except DigestInvalid:
        return None


def read_link(path: str) -> Plan[Digest | None]:
    """Plan: the digest the link file at ``path`` names, or None."""
    return link_target((yield Read(path)))


def link_bytes(digest: Digest) -> bytes:
    """A link file's content."""
    return str(digest).encode("ascii")


def write_link(path: str, digest: Digest, durability: Durability = "full") -> Put:
    """The step that writes a link file."""
    return Put(path, link_bytes(digest), durability)


def linked_blob_size(name: str, digest: Digest) -> Plan[int | None]:
    """Plan: the size of blob ``digest`` if repository ``name`` links it and its content
    is stored, else None."""
    if (yield from read_link(paths.layer_link(name, digest))) != digest:
        return None
    size: int | None = yield Size(paths.blob_data(digest))
    return size


# --- the global store ---------------------------------------------------------------------


class GlobalBlobStore:
    """Every blob of the registry, addressed by digest alone (no repository check)."""

    def __init__(self, driver: StorageDriver, cache: BlobDescriptorCache | None = None) -> None:
        self.driver = driver
        self.cache = cache

    async def stat(self, digest: Digest) -> Descriptor:
        """The blob's descriptor (size and a generic media type); ``BlobUnknown`` if absent."""
        if self.cache is not None:
            cached = await self.cache.get(digest)
            if cached is not None:
                return cached
        try:
            info = await self.driver.stat(paths.blob_data(digest))
        except PathNotFound:
            raise BlobUnknown(digest) from None
        if info.is_dir:
            raise BlobUnknown(digest)
        descriptor = Descriptor(media_type=BLOB_MEDIA_TYPE, digest=digest, size=info.size)
        if self.cache is not None:
            await self.cache.set(descriptor)
        return descriptor

    async def exists(self, digest: Digest) -> bool:
        """Whether the blob's content is stored."""
        try:
            await self.stat(digest)
        except BlobUnknown:
            return False
        return True

    async def get(self, digest: Digest) -> bytes:
        """The whole content of a small blob (manifests, configs)."""
        try:
            return await self.driver.get_content(paths.blob_data(digest))
        except PathNotFound:
            raise BlobUnknown(digest) from None

    async def put(self, data: bytes, media_type: str = BLOB_MEDIA_TYPE) -> Descriptor:
        """Store small content durably under its sha256 digest."""
        return await self.put_as(Digest.of(data), data, media_type)

    async def put_as(self, digest: Digest, data: bytes, media_type: str) -> Descriptor:
        """Store content whose digest the caller has verified (e.g. sha512 manifests)."""
        path = paths.blob_data(digest)
        try:
            info = await self.driver.stat(path)
            present = not info.is_dir and info.size == len(data)
        except PathNotFound:
            present = False
        if not present:
            await self.driver.put_content(path, data)
        return Descriptor(media_type=media_type, digest=digest, size=len(data))

    async def open(
        self,
        digest: Digest,
        offset: int = 0,
        length: int | None = None,
        *,
        allow_redirect: bool = False,
        method: str = "GET",
    ) -> BlobContent:
        """How to send bytes ``[offset, offset+length)`` of the blob.

        A redirect URL wins when allowed and offered; then a local file (the caller
        sends the range from it); else a stream of exactly the range.
        """
        descriptor = await self.stat(digest)
        if offset < 0 or offset > descriptor.size:
            raise RangeInvalid(f"offset {offset} is outside the blob of {descriptor.size} bytes")
        if length is not None and length < 0:
            raise RangeInvalid("a range length cannot be negative")
        path = paths.blob_data(digest)
        if allow_redirect:
            url = await self.driver.redirect_url(path, method)
            if url is not None:
                return BlobContent(descriptor=descriptor, redirect_url=url)
        file = self.driver.open_file(path)
        if file is not None:
            return BlobContent(descriptor=descriptor, file=file)
        try:
            stream = await self.driver.reader(path, offset, length)
        except PathNotFound:
            raise BlobUnknown(digest) from None
        except InvalidOffset:
            raise RangeInvalid(f"offset {offset} is outside the blob") from None
        return BlobContent(descriptor=descriptor, stream=stream)

    async def delete(self, digest: Digest) -> None:
        """Remove the content itself (garbage collection only)."""
        try:
            await self.driver.delete(paths.blob_dir(digest))
        except PathNotFound:
            raise BlobUnknown(digest) from None
        finally:
            if self.cache is not None:
                await self.cache.clear(digest)


# --- one repository's view ----------------------------------------------------------------


class LinkedBlobStore:
    """The blobs linked into one repository (implements ``protocols.Blobs``)."""

    def __init__(self, name: str, store: GlobalBlobStore) -> None:
        self.name = name
        self.store = store
        self.driver = store.driver

    async def stat(self, digest: Digest) -> Descriptor:
        """The blob's descriptor; ``BlobUnknown`` unless linked here and its content exists.

        The link and the content's size in one plan: a HEAD of a blob is the hottest path
        of a pull.
        """
        plan = functools.partial(linked_blob_size, self.name, digest)
        size = await self.driver.run(plan, reads_only=True)
        if size is None:
            raise BlobUnknown(digest)
        return Descriptor(media_type=BLOB_MEDIA_TYPE, digest=digest, size=size)

    async def open(
        self,
        digest: Digest,
        offset: int = 0,
        length: int | None = None,
        *,
        allow_redirect: bool = False,
        method: str = "GET",
    ) -> BlobContent:
        """How to send bytes of a linked blob (see ``GlobalBlobStore.open``)."""
        await self.stat(digest)
        return await self.store.open(
            digest, offset, length, allow_redirect=allow_redirect, method=method
        )

    async def put(self, data: bytes, media_type: str = BLOB_MEDIA_TYPE) -> Descriptor:
        """Store a small blob durably, then link it here."""
        descriptor = await self.store.put(data, media_type)
        await self.link(descriptor.digest)
        return descriptor

    async def link(self, digest: Digest) -> None:
        """Link content that is already durable in the global store."""
        await self.driver.put_content(paths.layer_link(self.name, digest), link_bytes(digest))
        await hold_blob(self.driver, digest)

    async def mount(self, digest: Digest, source: str) -> Descriptor:
        """Link a blob that repository ``source`` holds; ``BlobUnknown`` otherwise."""
        if not is_valid_name(source):
            # No repository by that name can hold anything; the client falls back to upload.
            raise BlobUnknown(digest)
        descriptor = await LinkedBlobStore(source, self.store).stat(digest)
        await self.link(digest)
        return descriptor

    async def delete(self, digest: Digest) -> None:
        """Unlink the blob from this repository; ``BlobUnknown`` if it is not linked."""
        try:
            await self.driver.delete(paths.layer_dir(self.name, digest))
        except PathNotFound:
            raise BlobUnknown(digest) from None
