"""Several small reads of a local driver in one worker-thread hop.

A manifest GET by tag reads the tag's link, checks the revision link and reads the
filed descriptor: three tiny files. Through the async driver interface that is three
thread hand-offs, each costing more than the read itself. Drivers over local storage
offer blocking reads (``StorageDriver.blocking_reads``), so these reads can run back to
back in one worker thread instead; other drivers give None and the callers use the async
interface. The paths come from the path mapper, built from validated names, tags and
digests.
"""

from __future__ import annotations

from dockyard.digest import Digest
from dockyard.errors import DigestInvalid
from dockyard.storage import paths
from dockyard.storage.driver.base import BlockingReads, StorageDriver


class LocalReads:
    """Reads of links, revisions and descriptors through a driver's blocking reads.

    Every method blocks: call them in a worker thread (``asyncio.to_thread``).
    """

    def __init__(self, files: BlockingReads) -> None:
        self.files = files
        self.read = files.read
        self.size = files.size

    @classmethod
    def for_driver(cls, driver: StorageDriver) -> LocalReads | None:
        """Local reads for ``driver`` when it offers blocking reads, else None."""
        files = driver.blocking_reads()
        return cls(files) if files is not None else None

    def exists(self, path: str) -> bool:
        """Whether a regular file exists at storage ``path``."""
        return self.size(path) is not None

    def link(self, path: str) -> Digest | None:
        """The digest the link file at ``path`` holds, or None if absent or damaged."""
        content = self.read(path)
        if content is None:
            return None
        try:
            return Digest.parse(content.decode("ascii", "replace").strip())
        except DigestInvalid:
            return None

    def linked_blob_size(self, name: str, digest: Digest) -> int | None:
        """The size of blob ``digest`` if repository ``name`` links it, else None."""
        if self.link(paths.layer_link(name, digest)) != digest:
            return None
        return self.size(paths.blob_data(digest))

    def revision(self, name: str, digest: Digest) -> tuple[bool, bytes | None]:
        """Whether repository ``name`` links manifest ``digest``, and its filed descriptor."""
        if not self.exists(paths.manifest_revision_link(name, digest)):
            return False, None
        return True, self.read(paths.manifest_descriptor(name, digest))

    def tagged_revision(self, name: str, tag: str) -> tuple[Digest | None, bool, bytes | None]:
        """The digest ``tag`` points at (None if it is unknown), then ``revision`` of it."""
        digest = self.link(paths.tag_current_link(name, tag))
        if digest is None:
            return None, False, None
        linked, descriptor = self.revision(name, digest)
        return digest, linked, descriptor
