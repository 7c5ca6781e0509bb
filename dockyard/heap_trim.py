"""Give the heap's free pages back to the system now and then (glibc ``malloc_trim``).

Under steady traffic a worker allocates and frees buffers all the time, while the
entries of its caches live on, spread through the heap. glibc returns freed memory to
the system only from the top of a heap, so the free pages between those entries stay
resident: the worker's RSS creeps up although its live data does not (the soak in
``bench/soak.py`` showed it; calling ``malloc_trim`` in a running worker gave back
18 MiB of a 98 MiB RSS). ``malloc_trim(0)`` hands every whole free page inside the heaps
back (``MADV_DONTNEED``). A daemon thread calls it every ``TRIM_INTERVAL`` seconds; the
call takes milliseconds, releases the GIL, and holds each arena's lock only while it
walks that arena. Where the C library has no ``malloc_trim`` (not glibc), nothing runs.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from typing import Final

#: Seconds between trims.
TRIM_INTERVAL: Final = 10.0


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    function: Callable[[int], int] = trim
    return function


class HeapTrimmer:
    """A daemon thread that calls ``malloc_trim(0)`` every ``interval`` seconds."""

    def __init__(self, interval: float = TRIM_INTERVAL) -> None:
        self.interval = interval
        self.trims = 0
        self._trim = _malloc_trim()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dockyard-heap-trim", daemon=True)

    @property
    def available(self) -> bool:
        """Whether the C library can trim (glibc)."""
        return self._trim is not None

    def start(self) -> HeapTrimmer:
        """Start trimming (nothing happens where the C library cannot trim)."""
        if self._trim is not None:
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop trimming and wait for the thread to end."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def trim_now(self) -> None:
        """Give the free pages back now."""
        if self._trim is not None:
            self._trim(0)
            self.trims += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.trim_now()
