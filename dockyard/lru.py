"""``ByteBoundedLRU``: the one least-recently-used map that caches bounded in bytes share.

Each entry is charged what it holds in memory (usually ``charge``: ``deep_size`` of what
it keeps, plus what the map spends on the entry), and the least recently used entries
go first once the charges exceed ``max_bytes`` or the entries ``max_entries``. An entry
charged more than ``max_entry_bytes`` is not kept at all: it would crowd out the rest.
Not thread-safe: a cache used from worker threads holds its own lock around it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Final, Generic, TypeVar

from dockyard.memory_size import deep_size

#: What the ordered dict spends per entry beyond the key and the value.
ENTRY_OVERHEAD_BYTES: Final = 120

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def charge(value: object) -> int:
    """What keeping ``value`` in a ``ByteBoundedLRU`` costs: its ``deep_size`` and the
    entry's overhead."""
    return deep_size(value) + ENTRY_OVERHEAD_BYTES


class ByteBoundedLRU(Generic[K, V]):
    """At most ``max_bytes`` of charged entries (and ``max_entries`` of them, when
    given), the least recently used dropped first."""

    __slots__ = ("_bytes", "_entries", "max_bytes", "max_entries", "max_entry_bytes")

    def __init__(
        self,
        max_bytes: int,
        *,
        max_entries: int | None = None,
        max_entry_bytes: int | None = None,
    ) -> None:
        if max_entries is not None and max_entries < 1:
            raise ValueError("a cache must hold at least one entry")
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        #: Entries charged more are not kept (``max_bytes`` when not given).
        self.max_entry_bytes = (
            max_bytes if max_entry_bytes is None else min(max_entry_bytes, max_bytes)
        )
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def charged_bytes(self) -> int:
        """What the entries hold, as charged against ``max_bytes``."""
        return self._bytes

    def get(self, key: K) -> V | None:
        """The value kept under ``key`` (now the most recently used), or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: K, value: V, charged: int) -> bool:
        """Keep ``value`` under ``key``, charged ``charged`` bytes, dropping the least
        recently used entries beyond the bounds; whether it was kept (an entry over
        ``max_entry_bytes`` is not, and replaces nothing)."""
        if charged > self.max_entry_bytes:
            self.pop(key)
            return False
        entries = self._entries
        previous = entries.pop(key, None)
        if previous is not None:
            self._bytes -= previous[1]
        entries[key] = (value, charged)
        self._bytes += charged
        max_entries = self.max_entries
        while self._bytes > self.max_bytes or (
            max_entries is not None and len(entries) > max_entries
        ):
            _, (_, dropped) = entries.popitem(last=False)
            self._bytes -= dropped
        return True

    def pop(self, key: K) -> V | None:
        """Forget ``key``; the value it had, or None."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return None
        self._bytes -= entry[1]
        return entry[0]

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()
        self._bytes = 0
