"""The machine a run was measured on, and its own limits (hashing, disk, page cache).

Uploads cannot go faster than sha256 or a durable disk write, and downloads are
bounded by page-cache reads, so these are reported next to the servers' figures.
"""

from __future__ import annotations

import hashlib
import os
import platform
import time
from pathlib import Path
from typing import Any

_CHUNK = 8 << 20


def describe() -> dict[str, Any]:
    """CPU model, core count, memory, kernel and Python version."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kib / (1 << 20), 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def _mb_s(size: int, seconds: float) -> float:
    return size / seconds / 1e6


def sha256_speed(size: int) -> float:
    """MB/s of hashlib.sha256 over ``size`` bytes fed in 8 MiB pieces (best of 3)."""
    data = os.urandom(_CHUNK)
    best = float("inf")
    for _ in range(3):
        h = hashlib.sha256()
        started = time.perf_counter()
        for _ in range(max(1, size // _CHUNK)):
            h.update(data)
        best = min(best, time.perf_counter() - started)
    return _mb_s(max(1, size // _CHUNK) * _CHUNK, best)


def disk_and_cache_speed(folder: Path, size: int) -> tuple[float, float]:
    """MB/s of writing ``size`` bytes plus fdatasync in ``folder``, then of re-reading them.

    The re-read comes from the page cache (the file was just written); the best of
    three reads is reported.
    """
    data = os.urandom(_CHUNK)
    pieces = max(1, size // _CHUNK)
    path = folder / "machine-probe.bin"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            started = time.perf_counter()
            for _ in range(pieces):
                os.write(fd, data)
            os.fdatasync(fd)
            write_s = time.perf_counter() - started
        finally:
            os.close(fd)
        buf = bytearray(_CHUNK)
        best = float("inf")
        for _ in range(3):
            with path.open("rb", buffering=0) as f:
                started = time.perf_counter()
                while f.readinto(buf):
                    pass
                best = min(best, time.perf_counter() - started)
    finally:
        path.unlink(missing_ok=True)
    return _mb_s(pieces * _CHUNK, write_s), _mb_s(pieces * _CHUNK, best)


def limits(folder: Path, size: int) -> dict[str, float]:
    """The machine's limits, as JSON-ready figures."""
    write, read = disk_and_cache_speed(folder, size)
    return {
        "sha256_mb_s": round(sha256_speed(size), 1),
        "disk_write_fdatasync_mb_s": round(write, 1),
        "page_cache_read_mb_s": round(read, 1),
    }
