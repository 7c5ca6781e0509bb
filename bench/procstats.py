"""Peak memory and CPU time of a server process and its children, read from /proc."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

_PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class ProcessUsage:
    """Resource use of a process tree: summed peak RSS and CPU seconds, and its size."""

    peak_rss_bytes: int
    cpu_seconds: float
    processes: int
    rss_now_bytes: int = 0
    pss_now_bytes: int = 0
    peak_rss_by_pid: dict[int, int] = field(default_factory=dict)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses; fields resume after the last ')'.
    return raw[raw.rfind(")") + 2 :].split()


def _children(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    tree: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        kids = parents.get(pid, [])
        tree.extend(kids)
        todo.extend(kids)
    return tree


def _kib_field(pid: int, file: str, name: str) -> int:
    """A ``Name:  N kB`` field of /proc/<pid>/<file>, in bytes (0 if unreadable)."""
    try:
        for line in (_PROC / str(pid) / file).read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _cpu_seconds(pid: int, *, with_reaped: bool) -> float:
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # Fields 14-17 of stat (utime, stime, cutime, cstime) sit at 11-14 after the name.
    ticks = int(fields[11]) + int(fields[12])
    if with_reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICKS


def usage(root: int) -> ProcessUsage:
    """Usage of ``root`` and every live descendant, including reaped children's CPU time.

    Peak RSS is the sum of each process's VmHWM: an upper bound on the tree's peak,
    which counts pages that forked workers share once per process. The current PSS
    (shared pages split between their sharers) is given beside it for that reason.
    """
    tree = [root, *_children(root)]
    peaks = {pid: _kib_field(pid, "status", "VmHWM") for pid in tree}
    return ProcessUsage(
        peak_rss_bytes=sum(peaks.values()),
        cpu_seconds=sum(_cpu_seconds(pid, with_reaped=True) for pid in tree),
        processes=len(tree),
        rss_now_bytes=sum(_kib_field(pid, "status", "VmRSS") for pid in tree),
        pss_now_bytes=sum(_kib_field(pid, "smaps_rollup", "Pss") for pid in tree),
        peak_rss_by_pid=peaks,
    )


def rss_now(root: int) -> list[int]:
    """The current RSS (``VmRSS``) of ``root`` and of every live descendant, root first."""
    return [_kib_field(pid, "status", "VmRSS") for pid in (root, *_children(root))]
