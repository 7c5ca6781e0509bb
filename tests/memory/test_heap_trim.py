"""The heap trimmer gives the free pages between live allocations back to the system."""

from __future__ import annotations

import time
from pathlib import Path

from retained import MiB

from dockyard.heap_trim import HeapTrimmer


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_trim_returns_free_pages_pinned_between_live_allocations() -> None:
    trimmer = HeapTrimmer()
    assert trimmer.available, "glibc offers malloc_trim"
    # 64 MiB of 2 KiB buffers (from malloc, not Python's small-object arenas); keeping
    # one in 32 pins the whole heap, so freeing the rest returns nothing by itself.
    buffers = [bytearray(2048) for _ in range(32 * 1024)]
    kept = buffers[::32]
    del buffers
    trimmer.trim_now()  # what an earlier trim left is not this test's to count
    before = _rss()
    refill = [bytearray(2048) for _ in range(32 * 1024)]
    for buffer in refill:
        buffer[0] = 1  # the pages are touched: resident
    del refill
    after_free = _rss()
    trimmer.trim_now()
    after_trim = _rss()
    assert after_free - after_trim > 32 * MiB
    assert after_trim < before + 16 * MiB
    assert len(kept) == 1024


def test_started_trimmer_trims_every_interval_until_stopped() -> None:
    trimmer = HeapTrimmer(interval=0.05).start()
    try:
        deadline = time.monotonic() + 10
        while trimmer.trims < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert trimmer.trims >= 3
    finally:
        trimmer.stop()
    stopped_at = trimmer.trims
    time.sleep(0.2)
    assert trimmer.trims == stopped_at
