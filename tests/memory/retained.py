"""How much memory a filled cache holds, measured with ``tracemalloc``.

A test fills a cache while ``tracing()``, then calls ``released(drop)``: the bytes that
dropping the cache (or emptying it) gives back are what it held. This measures the
allocations themselves, independently of how the cache counts its own entries.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

MiB = 1 << 20
KiB = 1 << 10


@contextmanager
def tracing() -> Iterator[None]:
    """Trace allocations (one frame each) for the duration of the block."""
    gc.collect()
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def traced_bytes() -> int:
    """Bytes allocated while tracing and still alive, after a garbage collection."""
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def released(drop: Callable[[], object]) -> int:
    """The bytes given back by ``drop()`` (which lets go of a cache or empties it)."""
    before = traced_bytes()
    drop()
    return before - traced_bytes()
