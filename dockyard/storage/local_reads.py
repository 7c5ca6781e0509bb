"""Several small reads of a local driver in one worker-thread hop.

A manifest GET by tag reads the tag's link, checks the revision link and reads the
filed descriptor: three tiny files. Through the async driver interface that is three
thread hand-offs, each costing more than the read itself. A driver whose content lives
in local files (it answers ``local_path``) lets these reads run back to back in one
worker thread instead; any other driver gets ``None`` from ``for_driver`` and the
callers use the async interface.
"""

from __future__ import annotations

import os

from dockyard.digest import Digest
from dockyard.errors import DigestInvalid
from dockyard.storage import paths
from dockyard.storage.driver.base import StorageDriver


class LocalReads:
    """Blocking reads of small files through a local driver's ``local_path``.

    Every method blocks: call them in a worker thread (``asyncio.to_thread``).
    """

    def __init__(self, driver: StorageDriver) -> None:
        self.driver = driver

    @classmethod
    def for_driver(cls, driver: StorageDriver) -> LocalReads | None:
        """Local reads for ``driver`` when it keeps content in local files, else None."""
        if type(driver).local_path is StorageDriver.local_path:
            return None
        return cls(driver)

    def read(self, path: str) -> bytes | None:
        """The content of the file at storage ``path``, or None if there is none."""
        target = self.driver.local_path(path)
        if target is None:
            return None
        try:
            with open(target, "rb") as file:
                return file.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None  # removed or replaced since local_path looked

    def size(self, path: str) -> int | None:
        """The size of the file at storage ``path``, or None if there is none."""
        target = self.driver.local_path(path)
        if target is None:
            return None
        try:
            return os.stat(target).st_size
        except (FileNotFoundError, NotADirectoryError):
            return None

    def exists(self, path: str) -> bool:
        """Whether a file exists at storage ``path``."""
        return self.driver.local_path(path) is not None

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
