"""Run wrk against one URL and read its figures (req/s, p50/p99, errors)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_TOTAL = re.compile(r"^\s*(\d+) requests in", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass
class WrkResult:
    """The figures of one wrk run; latencies in seconds."""

    rps: float
    p50: float
    p99: float
    requests: int
    non_2xx: int
    socket_errors: int


def wrk_path() -> str | None:
    """The wrk executable, if installed."""
    return shutil.which("wrk")


def accept_script(path: Path, method: str, accept: str) -> Path:
    """Write the Lua script that sets the request method and Accept header."""
    path.write_text(f'wrk.method = "{method}"\nwrk.headers["Accept"] = "{accept}"\n')
    return path


def parse(output: str) -> WrkResult:
    """Read a wrk report (run with ``--latency``)."""
    rps = _RPS.search(output)
    total = _TOTAL.search(output)
    if rps is None or total is None:
        raise RuntimeError(f"could not read wrk output:\n{output}")
    pct = {int(m[1]): float(m[2]) * _UNITS[m[3]] for m in _PERCENTILE.finditer(output)}
    non_2xx = _NON_2XX.search(output)
    sock = _SOCKET_ERRORS.search(output)
    return WrkResult(
        rps=float(rps[1]),
        p50=pct.get(50, float("nan")),
        p99=pct.get(99, float("nan")),
        requests=int(total[1]),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(g) for g in sock.groups()) if sock else 0,
    )


def run_wrk(
    url: str, script: Path, *, connections: int, duration: float, threads: int = 1
) -> WrkResult:
    """Run wrk for ``duration`` seconds over ``connections`` connections and parse it."""
    exe = wrk_path()
    if exe is None:
        raise RuntimeError("wrk is not installed")
    cmd = [
        exe,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return parse(done.stdout)
