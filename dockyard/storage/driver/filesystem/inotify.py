"""Linux inotify through ctypes: which watched folders changed since we last asked.

Only what the read memo (``read_memo``) needs: watch a folder for any change to its
entries or their content, stop watching it, and read the queued events without ever
blocking. The kernel queues an event while the change is made, before the system call
that made it returns, so a process that drains its queue after another process's write
returned sees that write.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import struct
import termios
import weakref
from collections.abc import Iterator
from typing import Final

#: Any change to a folder's entries or to the content of a file in it.
IN_MODIFY: Final = 0x00000002
IN_ATTRIB: Final = 0x00000004
IN_CLOSE_WRITE: Final = 0x00000008
IN_MOVED_FROM: Final = 0x00000040
IN_MOVED_TO: Final = 0x00000080
IN_CREATE: Final = 0x00000100
IN_DELETE: Final = 0x00000200
IN_DELETE_SELF: Final = 0x00000400
IN_MOVE_SELF: Final = 0x00000800
#: Flags the kernel adds: the queue overflowed (events were lost); a watch is gone.
IN_Q_OVERFLOW: Final = 0x00004000
IN_IGNORED: Final = 0x00008000
#: ``inotify_add_watch`` option: fail unless the path is a folder.
IN_ONLYDIR: Final = 0x01000000

FOLDER_CHANGES: Final = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
)

_EVENT: Final = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)
_READ_SIZE: Final = 64 << 10


class WatchFailed(Exception):
    """The folder cannot be watched; ``missing`` when it does not exist."""

    def __init__(self, code: int) -> None:
        super().__init__(os.strerror(code))
        self.missing = code in (errno.ENOENT, errno.ENOTDIR)


class Inotify:
    """One inotify instance: a non-blocking queue of change events for watched folders."""

    def __init__(self) -> None:
        libc = _libc()
        self._add = libc.inotify_add_watch
        self._remove = libc.inotify_rm_watch
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        self.fd: int = fd
        #: Where ``FIONREAD`` answers how many bytes of events are queued.
        self._queued = bytearray(4)
        # A memo dropped without close (a driver never closed) still releases the fd.
        self._close = weakref.finalize(self, os.close, fd)

    def watch(self, folder: str) -> int:
        """Watch ``folder`` for changes and return its watch descriptor.

        Watching an already watched folder returns the same descriptor. This resolves a
        path, so it belongs in a worker thread.
        """
        wd: int = self._add(self.fd, os.fsencode(folder), FOLDER_CHANGES | IN_ONLYDIR)
        if wd < 0:
            raise WatchFailed(ctypes.get_errno())
        return wd

    def unwatch(self, wd: int) -> None:
        """Stop watching (the kernel then queues ``IN_IGNORED`` for ``wd``)."""
        self._remove(self.fd, wd)

    def pending(self) -> bool:
        """Whether any event is queued: one ``ioctl``, cheaper than a read that fails
        with ``EAGAIN`` (asked before every answer from memory)."""
        fcntl.ioctl(self.fd, termios.FIONREAD, self._queued)
        return self._queued != b"\0\0\0\0"

    def events(self) -> Iterator[tuple[int, int]]:
        """The queued events as ``(wd, mask)``, without blocking; empty when none."""
        while True:
            try:
                data = os.read(self.fd, _READ_SIZE)
            except BlockingIOError:
                return
            offset = 0
            while offset < len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                offset += _EVENT.size + length
                yield wd, mask

    def close(self) -> None:
        self._close()


def available() -> bool:
    """Whether this system offers inotify."""
    try:
        _libc()
    except (OSError, AttributeError):
        return False
    return True


_LIBC: ctypes.CDLL | None = None


def _libc() -> ctypes.CDLL:
    global _LIBC
    if _LIBC is None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        for name in ("inotify_init1", "inotify_add_watch", "inotify_rm_watch"):
            getattr(libc, name)  # AttributeError where the C library lacks it
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.inotify_init1.argtypes = [ctypes.c_int]
        _LIBC = libc
    return _LIBC
