"""Several small reads of a local driver in one worker-thread hop.

A manifest GET by tag reads the tag's link, checks the revision link and reads the
filed descriptor: three tiny files. Through the async driver interface that is three
thread hand-offs, each costing more than the read itself. The filesystem driver keeps
storage path ``/a/b/c`` at ``<root>/a/b/c`` (its documented layout, shared with the
reference registry), so these reads can run back to back in one worker thread instead;
other drivers get ``None`` from ``for_driver`` and the callers use the async interface.
The paths come from the path mapper, built from validated names, tags and digests, so
they need no second validation here.
"""

from __future__ import annotations

import os
import stat

from dockyard.digest import Digest
from dockyard.errors import DigestInvalid
from dockyard.storage import paths
from dockyard.storage.driver.base import StorageDriver
from dockyard.storage.driver.filesystem import FilesystemDriver

_MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)


class LocalReads:
    """Blocking reads of small files below a filesystem driver's root.

    Every method blocks: call them in a worker thread (``asyncio.to_thread``).
    """

    def __init__(self, root: str) -> None:
        self.root = root

    @classmethod
    def for_driver(cls, driver: StorageDriver) -> LocalReads | None:
        """Local reads for ``driver`` when it is the filesystem driver, else None."""
        if isinstance(driver, FilesystemDriver):
            return cls(driver.root)
        return None

    def read(self, path: str) -> bytes | None:
        """The content of the regular file at storage ``path``, or None if there is none."""
        try:
            with open(self.root + path, "rb") as file:
                return file.read()
        except _MISSING:
            return None

    def size(self, path: str) -> int | None:
        """The size of the regular file at storage ``path``, or None if there is none."""
        try:
            info = os.stat(self.root + path)
        except _MISSING:
            return None
        return info.st_size if stat.S_ISREG(info.st_mode) else None

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
