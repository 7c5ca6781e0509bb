"""How ``dockyard sync`` shows what it does: a line per tag copied on stdout (unless a
JSON report was asked for), and on a terminal a line per blob, with the blob being
copied drawn in place as its bytes arrive."""

from __future__ import annotations

import time
from typing import Final, TextIO

MiB: Final = 1 << 20
#: Seconds between two redraws of the line of the blob being copied, at least.
_REDRAW: Final = 0.1


class SyncDisplay:
    """``progress`` and ``transfer`` callbacks of ``dockyard.sync.copy.sync``."""

    def __init__(self, out: TextIO, terminal: TextIO, *, as_json: bool) -> None:
        self._out = out
        self._terminal = terminal if terminal.isatty() else None
        self._as_json = as_json
        self._drawn_at = 0.0
        self._line_open = False

    def progress(self, message: str) -> None:
        """A tag copied (on stdout, or on the terminal with ``--json``), or a blob copied
        (indented; on the terminal only)."""
        per_blob = message.startswith(" ")
        if not per_blob and not self._as_json:
            self._end_line()
            print(message, file=self._out, flush=True)
        elif self._terminal is not None:
            self._end_line()
            print(message, file=self._terminal, flush=True)

    def transfer(self, label: str, done: int, total: int) -> None:
        """The blob being copied, redrawn in place at most ten times a second."""
        if self._terminal is None:
            return
        now = time.monotonic()
        if now - self._drawn_at < _REDRAW and done not in (0, total):
            return
        self._drawn_at = now
        size = f"{done / MiB:.1f}/{total / MiB:.1f} MiB" if total else f"{done / MiB:.1f} MiB"
        self._terminal.write(f"\r\033[K  {label} {size}")
        self._terminal.flush()
        self._line_open = True

    def close(self) -> None:
        """End the line of a blob whose copy did not finish, so an error starts afresh."""
        if self._line_open and self._terminal is not None:
            self._terminal.write("\n")
            self._terminal.flush()
            self._line_open = False

    def _end_line(self) -> None:
        """Clear the blob's line, so the next message is written over it."""
        if self._line_open and self._terminal is not None:
            # Flushed now: the next message may go to stdout, on the same terminal.
            self._terminal.write("\r\033[K")
            self._terminal.flush()
            self._line_open = False
