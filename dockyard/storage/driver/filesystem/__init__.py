"""The filesystem driver and what only it needs, kept here behind its interface.

- ``driver``: ``FilesystemDriver``, content in files below a root directory (plans run
  whole in one worker thread);
- ``read_memo`` and ``inotify``: small reads remembered until the kernel reports a change;
- ``folder_listings``: folder listings kept while the folder's change time stands;
- ``writeback``: early writeback of uploaded bytes, so the publishing ``fsync`` is short.

Stores never see any of these: they hand the driver plans (``driver.plan``).
"""

from dockyard.storage.driver.filesystem.driver import DEFAULT_ROOT, FilesystemDriver

__all__ = ["DEFAULT_ROOT", "FilesystemDriver"]
