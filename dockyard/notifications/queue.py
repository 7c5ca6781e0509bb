"""The durable event queue without Redis: per-endpoint journals of JSON lines on disk.

With ``redis`` configured, events are queued in Redis streams instead (``stream``), which
every instance shares. Without it, the queue must still survive a crash (SIGKILL, a
restart) and stay bounded in memory however long an endpoint is down, without adding a
service to run. With the filesystem driver the journal lives under the storage root
(``<rootdirectory>/notifications``), beside the registry's content. It is not written
through the storage driver because it needs what object stores lack: appends, ``fsync``
of a few hundred bytes per push, and ``flock`` to know which segments are finished and
which process delivers; on S3 every push would cost object writes. With the S3 or
in-memory driver (and no Redis) each instance therefore keeps its journal on its own
disk (``./.data/notifications``, or ``notifications.queue.directory``) and delivers it
itself, after a restart too; instances that share an S3 bucket should share Redis.

Layout, under ``notifications.queue.directory`` (default ``<data dir>/notifications``),
one folder per endpoint::

    <endpoint>/segments/<writer>.<number>.jsonl   events, one line each, per writer
    <endpoint>/cursor.json       delivered byte offset per segment (atomically replaced)
    <endpoint>/deadletter.jsonl  events given up after ``maxretries`` failed attempts
    <endpoint>/deliver.lock      held by the one process delivering for the endpoint

Each process that serves appends to segments of its own, and holds an exclusive
``flock`` on each while it may still write it, so a segment whose lock is free is
complete. A line is ``<sequence>\t<action>\t<event JSON>``, the sequence being the wall
clock in nanoseconds when the event was queued; the deliverer merges the segments by it,
so events reach the endpoint in the order they were queued, per repository as well,
whichever worker queued them.
Delivery is at least once: the cursor moves after the endpoint accepted a batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from dockyard.config import Config
from dockyard.notifications.events import ACTIONS

#: A writer starts a new segment once its current one holds this much.
SEGMENT_BYTES: Final = 8 << 20
#: Backlogs up to this size are counted line by line for ``pending``; larger are estimated.
COUNT_LIMIT: Final = 64 << 20
ESTIMATED_LINE_BYTES: Final = 700
#: How often at most the leader writes its delivery cursor while delivering.
CURSOR_SECONDS: Final = 0.5
#: How much of a segment one read takes, when reading a batch.
READ_BYTES: Final = 1 << 20


def queue_root(config: Config) -> Path:
    """The queue's folder for ``config``."""
    configured = config.notifications.queue_directory
    if configured:
        return Path(configured)
    from dockyard.assembly import data_dir

    return data_dir(config) / "notifications"


def _locked(fd: int) -> bool:
    """Whether another open file description holds an exclusive lock on ``fd``'s file."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def _undelivered(fd: int, offset: int) -> bool:
    """Whether a sealed segment holds a complete line after ``offset``.

    A last line without its newline was cut by a crash in the middle of writing it:
    its request never got an answer, so there is nothing in it to deliver.
    """
    size = os.fstat(fd).st_size
    if size <= offset:
        return False
    if os.pread(fd, 1, size - 1) == b"\n":
        return True
    return b"\n" in os.pread(fd, size - offset, offset)  # only after a crash: rare


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: Each action's text, found by its bytes (a line's action is not decoded anew per event).
_ACTIONS: Final = {action.encode(): action for action in ACTIONS}


class SegmentWriter:
    """One process's appends to one endpoint's journal (blocking; one thread at a time)."""

    def __init__(self, folder: Path) -> None:
        self.segments = folder / "segments"
        self.segments.mkdir(parents=True, exist_ok=True)
        #: Names this writer's segments: ``<writer>.<number>.jsonl``.
        self.writer = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}"
        self._number = 0
        self._fd: int | None = None
        self._size = 0

    def _open(self) -> int:
        name = f"{self.writer}.{self._number:08d}.jsonl"
        self._number += 1
        fd = os.open(self.segments / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        _fsync_folder(self.segments)
        return fd

    def append(self, data: bytes, durable: bool) -> None:
        """Append whole lines; with ``durable``, on disk when this returns."""
        if self._fd is None or self._size >= SEGMENT_BYTES:
            fresh = self._open()
            self.close()
            self._fd, self._size = fresh, 0
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._size += len(data)
        if durable:
            os.fdatasync(self._fd)

    def close(self) -> None:
        """Seal the current segment (its lock goes with the descriptor)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def line(sequence: int, action: str, event: bytes) -> bytes:
    """One journal line: the ordering key, the action, and the event's JSON, tab-separated.

    The event is stored as it will be sent, so delivery joins lines into an envelope
    without parsing and re-encoding each event.
    """
    return b"%d\t%s\t%s\n" % (sequence, action.encode(), event)


@dataclass(slots=True)
class Entry:
    """A queued event read for delivery, with where it is queued."""

    sequence: int
    action: str
    raw: bytes
    #: The segment file holding it (or, in a Redis stream, the entry's id).
    segment: str
    #: Where its line ends in the segment (0 in a stream).
    end: int

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.raw)
        return parsed


class EndpointQueue:
    """An endpoint's journal as its deliverer sees it (blocking calls, for a thread)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.segments = folder / "segments"
        self.segments.mkdir(parents=True, exist_ok=True)
        self.cursor_path = folder / "cursor.json"
        self.deadletter_path = folder / "deadletter.jsonl"
        self.lock_path = folder / "deliver.lock"
        self._lock_fd: int | None = None
        self._cursor: dict[str, int] | None = None
        self._saved = float("-inf")
        self._dirty = False

    # --- who delivers -------------------------------------------------------------------

    def try_lead(self) -> bool:
        """Take the endpoint's delivery lock if no other process holds it."""
        if self._lock_fd is not None:
            return True
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    @property
    def leading(self) -> bool:
        return self._lock_fd is not None

    def release(self) -> None:
        if self._lock_fd is not None:
            self.flush_cursor()
            os.close(self._lock_fd)
            self._lock_fd = None
            self._cursor = None

    # --- reading ------------------------------------------------------------------------

    def cursor(self) -> dict[str, int]:
        """Delivered offsets per segment (kept in memory by the leader, who alone moves them)."""
        if self._cursor is not None and self._lock_fd is not None:
            return self._cursor
        try:
            data = json.loads(self.cursor_path.read_bytes())
        except (OSError, ValueError):
            data = {}
        cursor = {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}
        if self._lock_fd is not None:
            self._cursor = cursor
        return cursor

    def save_cursor(self, cursor: dict[str, int], *, now: bool = True) -> None:
        """Keep ``cursor``; the leader writes it at most every ``CURSOR_SECONDS`` unless
        ``now`` (after a crash, what it delivered since is delivered again: at least once)."""
        if self._lock_fd is not None:
            self._cursor = cursor
            if not now and time.monotonic() - self._saved < CURSOR_SECONDS:
                self._dirty = True
                return
        temporary = self.cursor_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(cursor))
        temporary.replace(self.cursor_path)
        self._saved = time.monotonic()
        self._dirty = False

    def flush_cursor(self) -> None:
        """Write the leader's cursor if it moved since it was last written."""
        if self._dirty and self._cursor is not None:
            self.save_cursor(self._cursor)

    def _names(self) -> list[str]:
        try:
            return sorted(p.name for p in self.segments.iterdir() if p.suffix == ".jsonl")
        except FileNotFoundError:
            return []

    def _read(self, name: str, offset: int, limit: int) -> list[Entry]:
        """Complete lines of segment ``name`` from ``offset``, at most ``limit``."""
        entries: list[Entry] = []
        try:
            with (self.segments / name).open("rb", buffering=0) as file:
                position = offset
                size = min(READ_BYTES, limit << 10)
                while len(entries) < limit:
                    chunk = os.pread(file.fileno(), size, position)
                    complete = chunk.rfind(b"\n") + 1
                    if not complete:
                        if len(chunk) < size:
                            break  # nothing more, or only a line cut by a crash
                        size *= 2  # a line longer than a read (a large index's references)
                        continue
                    for raw in chunk[:complete].split(b"\n")[:-1]:
                        position += len(raw) + 1
                        fields = raw.split(b"\t", 2)
                        if len(fields) != 3 or not fields[0].isdigit() or fields[2][:1] != b"{":
                            continue  # not a line this queue wrote; nothing to deliver
                        action = _ACTIONS.get(fields[1]) or fields[1].decode()
                        entries.append(Entry(int(fields[0]), action, fields[2], name, position))
                        if len(entries) >= limit:
                            break
        except FileNotFoundError:
            pass
        return entries

    def next_batch(self, limit: int) -> list[Entry]:
        """The next ``limit`` undelivered events, in queue order across every segment.

        A writer's segments follow one another, so only the first ``limit`` undelivered
        events of each writer are read: a long backlog costs no more per batch.
        """
        cursor = self.cursor()
        writers: dict[str, list[str]] = {}
        for name in self._names():
            writers.setdefault(name.split(".", 1)[0], []).append(name)
        entries: list[Entry] = []
        for names in writers.values():
            wanted = limit
            for name in names:
                read = self._read(name, cursor.get(name, 0), wanted)
                entries.extend(read)
                wanted -= len(read)
                if wanted <= 0:
                    break
        if len(writers) > 1:
            entries.sort(key=lambda entry: (entry.sequence, entry.segment))
        return entries[:limit]

    def advance(self, entries: list[Entry]) -> None:
        """Mark ``entries`` (a prefix of ``next_batch``) delivered."""
        cursor = self.cursor()
        ends: dict[str, int] = {}
        for entry in entries:
            ends[entry.segment] = entry.end  # in each segment, the last entry ends furthest
        for segment, end in ends.items():
            cursor[segment] = max(cursor.get(segment, 0), end)
        self.save_cursor(cursor, now=False)

    def drop_finished(self) -> None:
        """Delete segments that are sealed and wholly delivered."""
        cursor = self.cursor()
        changed = False
        for name in self._names():
            path = self.segments / name
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                if _locked(fd) or _undelivered(fd, cursor.get(name, 0)):
                    continue
            finally:
                os.close(fd)
            path.unlink(missing_ok=True)
            changed = cursor.pop(name, None) is not None or changed
        if changed:
            self.save_cursor(cursor)

    def pending(self) -> int:
        """Events not yet delivered: counted while the backlog is small, beyond that
        estimated from its size (counting a long outage's backlog would read all of it)."""
        cursor = self.cursor()
        remaining: list[tuple[str, int, int]] = []
        for name in self._names():
            with contextlib.suppress(FileNotFoundError):
                size = (self.segments / name).stat().st_size
                remaining.append((name, cursor.get(name, 0), size))
        backlog = sum(size - offset for _, offset, size in remaining)
        if backlog > COUNT_LIMIT:
            return backlog // ESTIMATED_LINE_BYTES
        count = 0
        for name, offset, _ in remaining:
            with contextlib.suppress(FileNotFoundError), (self.segments / name).open("rb") as f:
                f.seek(offset)
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    count += chunk.count(b"\n")
        return count

    # --- the dead-letter list -----------------------------------------------------------

    def dead_letter(self, entries: list[Entry], reason: str) -> None:
        """Keep ``entries`` in the dead-letter list, on disk when this returns."""
        with self.deadletter_path.open("ab") as file:
            for entry in entries:
                record = {"failed": reason, "at": time.time(), "event": entry.event}
                file.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
            file.flush()
            os.fsync(file.fileno())

    def dead_letters(self) -> list[dict[str, Any]]:
        try:
            return records(self.deadletter_path.read_bytes())
        except FileNotFoundError:
            return []

    def replay(self) -> int:
        """Queue every dead-lettered event again (as a new segment); returns how many."""
        # Taken aside first: the deliverer may add to the list meanwhile, in a new file.
        taken = self.deadletter_path.with_suffix(f".replaying-{time.time_ns()}")
        try:
            self.deadletter_path.rename(taken)
        except FileNotFoundError:
            return 0
        taken_records = records(taken.read_bytes())
        writer = SegmentWriter(self.folder)
        try:
            data = b"".join(
                line(
                    time.time_ns(),
                    r["event"]["action"],
                    json.dumps(r["event"], separators=(",", ":")).encode(),
                )
                for r in taken_records
                if "event" in r
            )
            writer.append(data, durable=True)
        finally:
            writer.close()
        taken.unlink()
        return len(taken_records)


def records(raw: bytes) -> list[dict[str, Any]]:
    """The dead-letter records of JSON lines ``raw`` (a line cut by a crash is skipped)."""
    parsed = []
    for text in raw.splitlines():
        with contextlib.suppress(ValueError):
            parsed.append(json.loads(text))
    return parsed


class DeliveryQueue(Protocol):
    """One endpoint's queue as its deliverer and ``dockyard events`` use it: on disk
    (``DiskQueue``) or in a Redis stream (``stream.StreamQueue``)."""

    async def lead(self) -> bool:
        """Become the endpoint's one deliverer, if no other holds the lead."""
        ...

    async def still_leading(self) -> bool:
        """Whether the lead is still this deliverer's (renewing it when due)."""
        ...

    async def release(self) -> None: ...

    async def next_batch(self, limit: int) -> list[Entry]:
        """The oldest ``limit`` undelivered events, the same again until ``advance``."""
        ...

    async def advance(self, entries: Sequence[Entry]) -> None:
        """Mark ``entries`` (the last batch) delivered."""
        ...

    async def pending(self) -> int: ...

    async def dead_letter(self, entries: Sequence[Entry], reason: str) -> None:
        """Move ``entries`` (the last batch) to the dead-letter list, durably."""
        ...

    async def dead_letters(self) -> list[dict[str, Any]]: ...

    async def replay(self) -> int:
        """Queue every dead-lettered event again; returns how many."""
        ...


class DiskQueue:
    """``DeliveryQueue`` of an on-disk journal: ``EndpointQueue``'s calls on a thread."""

    def __init__(self, folder: Path) -> None:
        self.journal = EndpointQueue(folder)

    async def lead(self) -> bool:
        return await asyncio.to_thread(self.journal.try_lead)

    async def still_leading(self) -> bool:
        return True  # a lock held until released

    async def release(self) -> None:
        self.journal.release()

    async def next_batch(self, limit: int) -> list[Entry]:
        return await asyncio.to_thread(self._next_batch, limit)

    def _next_batch(self, limit: int) -> list[Entry]:
        entries = self.journal.next_batch(limit)
        if not entries:
            self.journal.flush_cursor()  # caught up: the cursor on disk says so too
        return entries

    async def advance(self, entries: Sequence[Entry]) -> None:
        await asyncio.to_thread(self.journal.advance, list(entries))

    async def pending(self) -> int:
        if self.journal.leading:  # the leader alone moves the cursor: it tidies too
            await asyncio.to_thread(self.journal.drop_finished)
        return await asyncio.to_thread(self.journal.pending)

    async def dead_letter(self, entries: Sequence[Entry], reason: str) -> None:
        await asyncio.to_thread(self.journal.dead_letter, list(entries), reason)
        await asyncio.to_thread(self.journal.advance, list(entries))

    async def dead_letters(self) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.journal.dead_letters)

    async def replay(self) -> int:
        return await asyncio.to_thread(self.journal.replay)
