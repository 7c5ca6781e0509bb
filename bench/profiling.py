"""Sample a Python server with py-spy while one figure group runs, and summarise it.

``python -m bench --only dockyard --profile DIR`` writes, per group, the collapsed
stacks py-spy recorded (``<group>.txt``, one ``frame;frame;... count`` line per stack,
the input of flamegraph tools) and ``<group>-top.txt``: the functions that hold the
most samples on their own (self) and with what they call (inclusive).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path


class Profiler:
    """A running ``py-spy record`` over a process and its children."""

    def __init__(self, pid: int, out: Path, rate: int = 200) -> None:
        beside = Path(sys.executable).parent / "py-spy"
        exe = str(beside) if beside.exists() else shutil.which("py-spy")
        if exe is None:
            raise RuntimeError("py-spy is not installed (pip install py-spy)")
        self.out = out
        self._log = out.with_name(out.stem + "-py-spy.log")
        argv = [exe, "record", "--pid", str(pid), "--subprocesses", "--rate", str(rate)]
        argv += ["--format", "raw", "--output", str(out)]
        with self._log.open("w") as log:
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_sampling()

    def _wait_sampling(self) -> None:
        # py-spy announces "Sampling process ..." once attached; what runs before that
        # would not be in the profile.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self._proc.poll() is None:
            if "Sampling" in self._log.read_text(errors="replace"):
                return
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop sampling (py-spy writes its output on SIGINT) and write the summary."""
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        top = self.out.with_name(self.out.stem + "-top.txt")
        if self.out.exists():
            top.write_text(summarise(self.out.read_text()))
        else:
            top.write_text("py-spy wrote no profile:\n" + self._log.read_text(errors="replace"))


_PREFIX = re.compile(r"^.*?/(?:lib/python3\.\d+/(?:site-packages/)?|work/[^/]+/)")


def _function(frame: str) -> str:
    # A raw frame reads "name (path/to/module.py:line)"; the line makes frames of one
    # function distinct, so it is dropped, and so is the path up to the package.
    name, _, where = frame.partition(" (")
    path = _PREFIX.sub("", where.rstrip(")").rsplit(":", 1)[0])
    return f"{name} ({path})" if path else name


#: Leaf functions where a thread waits rather than works. py-spy's idle detection
#: misses them here: a pool thread blocked in its queue, granian's supervisor and its
#: threads waiting for the workers to exit, a thread joining another.
IDLE_LEAVES = frozenset(
    {
        "_worker (concurrent/futures/thread.py)",
        "MPServer._spawn_asgi_lifespan_worker (granian/server/mp.py)",
        "MPServer._spawn_asgi_worker (granian/server/mp.py)",
        "Condition.wait (threading.py)",
        "Thread._wait_for_tstate_lock (threading.py)",
        "Popen.poll (multiprocessing/popen_fork.py)",
        "BaseSelector.select (selectors.py)",
        "EpollSelector.select (selectors.py)",
    }
)


def summarise(collapsed: str, top: int = 30) -> str:
    """Self and inclusive shares of the hottest functions in collapsed stacks.

    Shares are of the busy samples: stacks that end in a known wait (IDLE_LEAVES) are
    counted apart, so the figures read as where the server's threads work.
    """
    own: Counter[str] = Counter()
    own_lines: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    idle = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        raw = stack.split(";")
        # Leading frames name the process and its parents; they are not functions.
        while raw and raw[0].startswith("process "):
            raw = raw[1:]
        functions = [_function(f) for f in raw]
        if not functions:
            continue
        if functions[-1] in IDLE_LEAVES:
            idle += count
            continue
        total += count
        own[functions[-1]] += count
        own_lines[_PREFIX.sub("", raw[-1].partition(" (")[2].rstrip(")"))] += count
        for fn in set(functions):
            inclusive[fn] += count
    if total == 0:
        return "no samples\n"
    lines = [f"{total} busy samples ({idle} idle samples left out)", "", "self%   function"]
    lines += [f"{100 * n / total:5.1f}   {fn}" for fn, n in own.most_common(top)]
    lines += ["", "self%   line"]
    lines += [f"{100 * n / total:5.1f}   {at}" for at, n in own_lines.most_common(top // 2)]
    ours = Counter({fn: n for fn, n in inclusive.items() if "(dockyard/" in fn})
    lines += ["", "incl%   function of dockyard"]
    lines += [f"{100 * n / total:5.1f}   {fn}" for fn, n in ours.most_common(top)]
    lines += ["", "incl%   function"]
    lines += [f"{100 * n / total:5.1f}   {fn}" for fn, n in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"
