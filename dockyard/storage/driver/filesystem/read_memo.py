"""Small reads of local files, remembered until the kernel reports a change.

A manifest GET by tag reads a tag link, checks a revision link and reads a filed
descriptor: three tiny files that change rarely, but may change at any moment, from
this process or from another registry process sharing the folder. Reading them costs a
worker-thread hop per request, more than the rest of the request. The memo remembers
each read and watches the folder that holds the file with inotify; before answering
from memory it drains the change queue without blocking, and forgets everything a
change touched. Because the kernel queues an event before the write that caused it
returns, a write that another process acknowledged before our request arrived is always
seen: the answer is as fresh as a read.

Correctness rests on ordering. A read is remembered only if its folder was watched
before the file was read, and no event for that folder arrived between the watch and
the moment the result is stored. An absent file is remembered by watching the deepest
folder of its path that exists, after checking that the next folder down still does not
exist (its creation then shows up as an event). A lost event (queue overflow) forgets
everything. Network file systems do not report other hosts' changes to inotify, so the
memo is only used on local file systems.

Bounds: at most ``DEFAULT_CAPACITY`` reads (2048), holding at most
``DEFAULT_MAX_BYTES`` (2 MiB; each read charged its content, names and path plus
``ENTRY_OVERHEAD_BYTES``), least recently used first out; a content larger than
``MAX_VALUE_BYTES`` is never kept. Every watch belongs to a remembered read or to a
recording in flight, so the process holds at most capacity + in-flight watches (and
the kernel's per-user ``max_user_watches`` applies too). Whole plan results are at most
``DEFAULT_CAPACITY`` more entries, keyed by a plan's arguments (names and digests, each
bounded in length at the edge) and sharing their bytes with the remembered reads; they
are all dropped whenever any read is, so they never keep alive what the byte bound let go.
"""

from __future__ import annotations

import builtins
import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Final, Protocol, TypeVar

from dockyard.storage.driver.filesystem.inotify import (
    IN_IGNORED,
    IN_Q_OVERFLOW,
    Inotify,
    WatchFailed,
)

logger = logging.getLogger(__name__)

#: File system types whose changes, by any process on this host, reach inotify.
LOCAL_FILE_SYSTEMS: Final = frozenset(
    {"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "ramfs", "f2fs", "zfs", "bcachefs",
     "overlay", "jfs", "reiserfs", "nilfs2"}
)  # fmt: skip
#: Reads remembered at most; a process holds at most this many watches.
DEFAULT_CAPACITY: Final = 2048
#: Memory the remembered reads may hold in all, as ``_charge`` counts it.
DEFAULT_MAX_BYTES: Final = 2 << 20
#: Contents larger than this are read every time (they would crowd out the small ones).
MAX_VALUE_BYTES: Final = 64 << 10
#: The dicts, sets and tuples that keep one read, beyond its path and its value.
ENTRY_OVERHEAD_BYTES: Final = 400

_Key = tuple[str, str]  # ("read" | "size" | "names", storage path)
_Value = bytes | int | tuple[str, ...] | None
#: The driver's ``list_names`` for worker threads.
Lister = Callable[[Sequence[str]], builtins.list[builtins.list[str] | None]]
T = TypeVar("T")
#: What ``ReadMemo.result`` finds for a plan it holds no result of.
_NOTHING: Final = object()


class FileReads(Protocol):
    """Reads of small committed files below the root, by storage path (None if absent)."""

    def read(self, path: str) -> bytes | None: ...

    def size(self, path: str) -> int | None: ...


class Unremembered(Exception):
    """The memo has no answer for this read: read the file (``ReadMemo.recording``)."""


class Recording:
    """``FileReads`` (and folder names) that watch each file's folder before reading it,
    and note the results for ``ReadMemo.remember``. Used in one worker thread."""

    def __init__(self, memo: ReadMemo) -> None:
        self._memo = memo
        self._files = memo.files
        #: (key, value, wd) of reads that may be remembered.
        self.results: list[tuple[_Key, _Value, int]] = []
        #: Every watch this recording added or reused.
        self.watched: list[int] = []
        #: Filled on the event loop while the thread runs: folders that changed meanwhile.
        self.changed: set[int] = set()
        self.overflowed = False

    def read(self, path: str) -> bytes | None:
        wd, exact = self._watch(os.path.dirname(path))
        content = self._files.read(path)
        self._note(("read", path), content, wd, exact)
        return content

    def size(self, path: str) -> int | None:
        wd, exact = self._watch(os.path.dirname(path))
        size = self._files.size(path)
        self._note(("size", path), size, wd, exact)
        return size

    def names(self, path: str) -> builtins.list[str] | None:
        # The folder itself is watched: its entries changing is what changes its names.
        wd, exact = self._watch(path)
        (names,) = self._memo.lister([path])
        self._note(("names", path), None if names is None else tuple(names), wd, exact)
        return names

    def _note(self, key: _Key, value: _Value, wd: int | None, exact: bool) -> None:
        # A file found while only an ancestor was watched appeared meanwhile: its later
        # changes would not be reported, so it is not remembered.
        if wd is not None and (exact or value is None):
            self.results.append((key, value, wd))

    def _watch(self, folder: str) -> tuple[int | None, bool]:
        """Watch ``folder``, else its deepest existing ancestor.

        Returns the watch and whether it is ``folder`` itself; None when nothing can be
        watched safely.
        """
        root = self._memo.root
        below: str | None = None
        while True:
            try:
                wd = self._memo.inotify.watch(root + folder)
            except WatchFailed as failure:
                if not failure.missing or folder in ("", "/"):
                    return None, False
                below, folder = folder, os.path.dirname(folder)
                continue
            self.watched.append(wd)
            if below is None:
                return wd, True
            # Watched an ancestor: only valid while the folder below it is still absent.
            if os.path.lexists(root + below):
                return None, False
            return wd, False


class ReadMemo:
    """Remembered ``read``/``size`` answers for files below ``root``, kept true by inotify.

    Every method but ``Recording``'s runs on the event loop, and none of them blocks:
    draining the queue is a non-blocking read of the inotify descriptor.
    """

    def __init__(
        self,
        files: FileReads,
        lister: Lister,
        root: str,
        capacity: int = DEFAULT_CAPACITY,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.files = files
        self.lister = lister
        self.root = root.rstrip("/")
        self.inotify = Inotify()
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._bytes = 0
        self._values: OrderedDict[_Key, tuple[_Value, int, int]] = OrderedDict()
        self._keys_of: dict[int, set[_Key]] = {}
        #: Whole results of plans answered from the remembered reads, by plan and
        #: arguments (see ``result``). They hold while every remembered read does, so
        #: they are all dropped whenever any remembered read is.
        self._results: dict[Hashable, object] = {}
        self._recordings: set[Recording] = set()

    @classmethod
    def for_root(cls, files: FileReads, lister: Lister, root: str) -> ReadMemo | None:
        """A memo for ``root``, or None where inotify cannot see every change to it."""
        fs_type = file_system_type(root)
        if fs_type not in LOCAL_FILE_SYSTEMS:
            logger.info("no read memo: %s file systems do not report all changes", fs_type)
            return None
        try:
            return cls(files, lister, root)
        except (OSError, AttributeError) as error:
            logger.info("no read memo: inotify is unavailable (%s)", error)
            return None

    # --- answering from memory ------------------------------------------------------------

    def read(self, path: str) -> bytes | None:
        """The remembered content of ``path``; ``Unremembered`` if there is none.

        Call ``refresh`` first (once per request) so that changes are applied.
        """
        value = self._recall(("read", path))
        assert value is None or isinstance(value, bytes)
        return value

    def size(self, path: str) -> int | None:
        """The remembered size of ``path``; ``Unremembered`` if there is none."""
        value = self._recall(("size", path))
        assert value is None or isinstance(value, int)
        return value

    def names(self, path: str) -> builtins.list[str] | None:
        """The remembered names in folder ``path``; ``Unremembered`` if there are none."""
        value = self._recall(("names", path))
        assert value is None or isinstance(value, tuple)
        return None if value is None else list(value)

    def result(self, key: Hashable) -> object:
        """The remembered result of the plan ``key`` names; ``Unremembered`` if none."""
        found = self._results.get(key, _NOTHING)
        if found is _NOTHING:
            raise Unremembered()
        return found

    def keep_result(self, key: Hashable, value: object) -> None:
        """Remember ``value``, the result of plan ``key`` answered wholly from memory.

        The plan must be a function of ``key`` and the files it reads, and ``value``
        immutable: every caller gets this very object.
        """
        results = self._results
        if len(results) >= self.capacity:
            del results[next(iter(results))]
        results[key] = value

    def _recall(self, key: _Key) -> _Value:
        entry = self._values.get(key)
        if entry is None:
            raise Unremembered()
        self._values.move_to_end(key)
        return entry[0]

    def refresh(self) -> None:
        """Forget what changed: apply every queued event."""
        if not self.inotify.pending():
            return
        for wd, mask in self.inotify.events():
            if mask & IN_Q_OVERFLOW:
                self._forget_everything()
                continue
            for recording in self._recordings:
                recording.changed.add(wd)
            self._forget_folder(wd, still_watched=not mask & IN_IGNORED)

    # --- learning -------------------------------------------------------------------------

    def recording(self) -> Recording:
        """Reads to run in a worker thread; hand them to ``remember`` afterwards."""
        self.refresh()
        recording = Recording(self)
        self._recordings.add(recording)
        return recording

    def remember(self, recording: Recording) -> None:
        """Keep what ``recording`` read, unless its folder changed since it was watched."""
        self.refresh()
        self._recordings.discard(recording)
        if not recording.overflowed:
            for key, value, wd in recording.results:
                if wd not in recording.changed:
                    self._store(key, value, wd)
        for wd in recording.watched:
            if wd not in self._keys_of and not self._watched_by_other_recording(wd):
                self.inotify.unwatch(wd)

    def _watched_by_other_recording(self, wd: int) -> bool:
        return any(wd in other.watched for other in self._recordings)

    @property
    def charged_bytes(self) -> int:
        """The memory the remembered reads hold, as charged against ``max_bytes``."""
        return self._bytes

    @property
    def watches(self) -> int:
        """Folders watched for the remembered reads."""
        return len(self._keys_of)

    def _store(self, key: _Key, value: _Value, wd: int) -> None:
        old = self._values.pop(key, None)
        if old is not None:
            self._bytes -= old[2]
            self._drop_key(key, old[1])
        charge = _charge(key, value)
        if charge - ENTRY_OVERHEAD_BYTES - len(key[1]) > MAX_VALUE_BYTES:
            return  # ``remember`` drops the watch if nothing else needs it
        self._values[key] = (value, wd, charge)
        self._bytes += charge
        self._keys_of.setdefault(wd, set()).add(key)
        while len(self._values) > self.capacity or self._bytes > self.max_bytes:
            evicted, (_, evicted_wd, evicted_charge) = self._values.popitem(last=False)
            self._bytes -= evicted_charge
            self._drop_key(evicted, evicted_wd)

    # --- forgetting -----------------------------------------------------------------------

    def _drop_key(self, key: _Key, wd: int) -> None:
        self._results.clear()
        keys = self._keys_of.get(wd)
        if keys is None:
            return
        keys.discard(key)
        if not keys:
            del self._keys_of[wd]
            if not self._watched_by_other_recording(wd):
                self.inotify.unwatch(wd)

    def _forget_folder(self, wd: int, still_watched: bool) -> None:
        keys = self._keys_of.pop(wd, None)
        if keys is None:
            return
        self._results.clear()
        for key in keys:
            entry = self._values.pop(key, None)
            if entry is not None:
                self._bytes -= entry[2]
        if still_watched and not self._watched_by_other_recording(wd):
            self.inotify.unwatch(wd)

    def _forget_everything(self) -> None:
        for recording in self._recordings:
            recording.overflowed = True
        self._values.clear()
        self._results.clear()
        self._bytes = 0
        for wd in list(self._keys_of):
            if not self._watched_by_other_recording(wd):
                self.inotify.unwatch(wd)
        self._keys_of.clear()

    def close(self) -> None:
        self.inotify.close()


def _charge(key: _Key, value: _Value) -> int:
    """What one remembered read holds: its path, its content or names, and overhead."""
    size = ENTRY_OVERHEAD_BYTES + len(key[1])
    if isinstance(value, bytes):
        size += len(value)
    elif isinstance(value, tuple):
        size += sum(len(name) + 56 for name in value)
    return size


def file_system_type(folder: str) -> str | None:
    """The type of the file system holding ``folder`` (``/proc/self/mountinfo``)."""
    try:
        target = os.path.realpath(folder)
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as mounts:
            lines = mounts.read().splitlines()
    except OSError:
        return None
    best, best_type = "", None
    for line in lines:
        fields, _, rest = line.partition(" - ")
        parts = fields.split()
        if len(parts) < 5 or not rest:
            continue
        point = _unescape(parts[4])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, best_type = point, rest.split()[0]
    return best_type


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (``\\040``)."""
    if "\\" not in field:
        return field
    return field.encode().decode("unicode_escape").encode("latin-1").decode(errors="replace")
