"""``/debug/tracemalloc``: where the serving process's Python memory is, and what grows.

With ``http.debug.tracemalloc.enabled`` the ``dockyard serve`` process traces every
Python allocation (``tracemalloc``, keeping ``frames`` stack frames each) from start-up.
Each report takes a snapshot and answers, as JSON, the largest allocation sites and the
sites that grew most since the previous report (the first report compares with the
snapshot taken at start-up), with the totals of both. Calling it every few minutes
under steady traffic shows what grows with the request count: a site whose size keeps
rising between reports while the traffic stays the same.

Tracing covers the process the listener runs in: the one that serves requests when
``http.workers`` is 1 (the default). Memory outside Python's allocator (C libraries,
the allocator's own fragmentation) does not appear; compare the totals with the RSS in
``/debug/vars`` to tell the two apart.
"""

from __future__ import annotations

import os
import threading
import tracemalloc
from typing import Any, Final

#: Sites reported when the caller does not say how many.
DEFAULT_LIMIT: Final = 25
#: The most sites one report may list.
MAX_LIMIT: Final = 500

# The tracer's own bookkeeping is no leak of the registry's.
_OWN_FILTERS: Final = (
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
    tracemalloc.Filter(False, "<unknown>"),
)


class AllocationTracer:
    """Starts ``tracemalloc`` and reports snapshots, each compared with the one before.

    Holds one snapshot at a time (the previous report's), so its own memory stays that
    of one snapshot: one record per traced allocation site, not per report.
    """

    def __init__(self, frames: int = 1) -> None:
        self.frames = frames
        self._lock = threading.Lock()
        self._previous: tracemalloc.Snapshot | None = None

    def start(self) -> None:
        """Begin tracing (if it is not already on) and take the first snapshot."""
        if not tracemalloc.is_tracing():
            tracemalloc.start(self.frames)
        with self._lock:
            self._previous = self._snapshot()

    @staticmethod
    def _snapshot() -> tracemalloc.Snapshot:
        return tracemalloc.take_snapshot().filter_traces(_OWN_FILTERS)

    def report(self, limit: int = DEFAULT_LIMIT, group_by: str = "lineno") -> dict[str, Any]:
        """The top ``limit`` sites by size and by growth since the previous report.

        Runs for a while (a snapshot walks every traced block): call it off the event loop.
        """
        if not tracemalloc.is_tracing():
            raise RuntimeError("tracemalloc is not tracing")
        with self._lock:
            snapshot = self._snapshot()
            previous, self._previous = self._previous, snapshot
        current, peak = tracemalloc.get_traced_memory()
        top = snapshot.statistics(group_by)
        growth = snapshot.compare_to(previous, group_by) if previous is not None else []
        growth.sort(key=lambda s: (s.size_diff, s.count_diff), reverse=True)
        return {
            "pid": os.getpid(),
            "frames": tracemalloc.get_traceback_limit(),
            "group_by": group_by,
            "traced_bytes": current,
            "traced_peak_bytes": peak,
            "tracing_overhead_bytes": tracemalloc.get_tracemalloc_memory(),
            "snapshot_bytes": sum(s.size for s in top),
            "snapshot_blocks": sum(s.count for s in top),
            "growth_bytes": sum(s.size_diff for s in growth),
            "top": [
                {"site": _site(s.traceback), "bytes": s.size, "blocks": s.count}
                for s in top[:limit]
            ],
            "growth": [
                {
                    "site": _site(s.traceback),
                    "bytes": s.size,
                    "bytes_diff": s.size_diff,
                    "blocks": s.count,
                    "blocks_diff": s.count_diff,
                }
                for s in growth[:limit]
                if s.size_diff > 0
            ],
        }


def _site(traceback: tracemalloc.Traceback) -> list[str]:
    """``file:line`` of each frame, the allocating one first."""
    return [f"{frame.filename}:{frame.lineno}" for frame in traceback]


def parse_query(query: bytes) -> tuple[int, str]:
    """``limit`` (1 to ``MAX_LIMIT``) and ``group_by`` (``lineno``, ``filename`` or
    ``traceback``) from a query string; ValueError names what is wrong."""
    limit, group_by = DEFAULT_LIMIT, "lineno"
    for pair in query.decode("latin-1").split("&"):
        key, _, value = pair.partition("=")
        if key == "limit":
            if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
                raise ValueError(f"limit: expected 1 to {MAX_LIMIT}")
            limit = int(value)
        elif key == "group_by":
            if value not in ("lineno", "filename", "traceback"):
                raise ValueError("group_by: expected lineno, filename or traceback")
            group_by = value
    return limit, group_by
