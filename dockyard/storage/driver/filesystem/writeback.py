"""Start writing a file's dirty pages to disk early, so a later ``fsync`` has little left.

An upload streams hundreds of megabytes into the page cache and then ``fsync``s once
before it is published. Left alone, the kernel starts writeback only after its dirty
expiry (tens of seconds), so the whole body would reach the disk inside that final
``fsync``, after the last byte arrived. Asking for writeback of each range as soon as it
is written (Linux ``sync_file_range`` with ``SYNC_FILE_RANGE_WRITE``) overlaps the disk
with receiving and hashing. It is only a hint: durability still comes from ``fsync``.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable
from typing import Final

#: ``SYNC_FILE_RANGE_WRITE`` from ``<fcntl.h>``: start writeback, do not wait for it.
_SYNC_FILE_RANGE_WRITE: Final = 2


def _load() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_SYNC_FILE_RANGE: Final = _load()


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to begin writing ``[offset, offset+length)`` of ``fd`` to disk.

    Blocking (the call may wait while the device queue is full), so run it in the same
    worker thread as the write. Where the call does not exist it does nothing.
    """
    if _SYNC_FILE_RANGE is not None and length > 0:
        # ctypes releases the GIL for the call; a failure only loses the head start.
        _SYNC_FILE_RANGE(fd, offset, length, _SYNC_FILE_RANGE_WRITE)
