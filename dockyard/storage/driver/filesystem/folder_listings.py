"""Folder listings of a local file system, kept while each folder's change time stands.

Creating, removing or renaming an entry of a folder sets the folder's ctime (and mtime),
whichever process does it, so a listing stays exact while a ``stat`` of the folder
reports the same device, inode, ctime and mtime as when it was taken: one ``stat``
instead of reading the folder again. Only each folder's own entries are kept, never
anything below them, since a change below a folder does not touch its times.

Times come from a coarse clock (a tick of a few milliseconds; whole seconds or two on
some file systems): a change within the same tick as the listing could leave them as
they were. A listing is therefore kept only once the folder's last change lies further
back than the times' resolution allows (``is_settled``); a later change then carries a
later time.
"""

from __future__ import annotations

import os
import re
import stat as statmod
import threading
import time
from typing import Final

from dockyard.lru import ByteBoundedLRU

#: How long ago a folder must have last changed for its listing to be kept, where its
#: times have sub-second resolution (ticks are at most 10 ms), and where they are whole
#: seconds (as on file systems that keep only seconds, or two).
SETTLED_NS: Final = 250_000_000
SETTLED_WHOLE_SECONDS_NS: Final = 3_000_000_000
_SECOND_NS: Final = 1_000_000_000
#: Memory the kept listings may hold in all (``listing_charge``), least recently used folders
#: dropped first.
CAPACITY_BYTES: Final = 4 << 20
#: What a name costs beyond its characters (the str object and its list slot), and a
#: folder beyond its path and names (the dict entry, the stamp, the list).
NAME_OVERHEAD_BYTES: Final = 57
FOLDER_OVERHEAD_BYTES: Final = 400

_VISIBLE: Final = re.compile(r"[A-Za-z0-9._-]+")
#: Names joined by ``/`` (which no name holds), all visible; ``listdir`` omits ``.`` and ``..``.
_VISIBLE_JOINED: Final = re.compile(r"[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*")

_Stamp = tuple[int, int, int, int]


def is_settled(ctime_ns: int, mtime_ns: int, now_ns: int) -> bool:
    """Whether a folder with these times last changed long enough before ``now_ns``."""
    whole = ctime_ns % _SECOND_NS == 0 and mtime_ns % _SECOND_NS == 0
    return max(ctime_ns, mtime_ns) < now_ns - (SETTLED_WHOLE_SECONDS_NS if whole else SETTLED_NS)


def visible_names(names: list[str]) -> list[str]:
    """``names`` without bookkeeping and foreign entries, checked in one regex pass when all are."""
    if _VISIBLE_JOINED.fullmatch("/".join(names)):
        return names
    return [name for name in names if _VISIBLE.fullmatch(name)]


class FolderListings:
    """Sorted visible entry names of local folders, for worker threads (thread-safe);
    holding at most ``capacity_bytes`` of memory."""

    def __init__(self, capacity_bytes: int = CAPACITY_BYTES) -> None:
        self._kept: ByteBoundedLRU[str, tuple[_Stamp, list[str]]] = ByteBoundedLRU(capacity_bytes)
        self._lock = threading.Lock()

    def names(self, folder: str) -> list[str] | None:
        """The visible entry names of ``folder``, sorted; None if it is no folder."""
        try:
            st = os.stat(folder)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not statmod.S_ISDIR(st.st_mode):
            return None
        stamp = (st.st_dev, st.st_ino, st.st_ctime_ns, st.st_mtime_ns)
        with self._lock:
            kept = self._kept.get(folder)
            if kept is not None and kept[0] == stamp:
                return list(kept[1])
        try:
            names = visible_names(os.listdir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return None
        names.sort()
        # The stamp was read before the folder: a change in between shows in the names
        # and moves the times, so the next call reads the folder again.
        if is_settled(st.st_ctime_ns, st.st_mtime_ns, time.time_ns()):
            charge = listing_charge(folder, names)
            with self._lock:
                self._kept.put(folder, (stamp, names), charge)
            return list(names)
        return names

    @property
    def charged_bytes(self) -> int:
        """The memory the kept listings hold, as charged against the capacity."""
        return self._kept.charged_bytes


def listing_charge(folder: str, names: list[str]) -> int:
    """What one kept listing holds: its path, its names, and overhead."""
    return (
        FOLDER_OVERHEAD_BYTES
        + len(folder)
        + sum(len(name) for name in names)
        + NAME_OVERHEAD_BYTES * len(names)
    )
