"""How a collection reports: a text listing or JSON, and a progress line on a terminal."""

from __future__ import annotations

import json
import time
from typing import TextIO

from dockyard.storage.gc import GCResult


def render(result: GCResult, *, as_json: bool = False) -> str:
    """The report ``dockyard gc`` prints: every manifest and blob with its size, a summary."""
    if as_json:
        return json.dumps(result.to_json(), indent=2) + "\n"
    lines = [*result.lines(), ("dry run: " if result.dry_run else "") + str(result)]
    return "\n".join(lines) + "\n"


class TerminalProgress:
    """A progress line on a terminal (rewritten in place, at most ten times a second)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._last = 0.0
        self._shown = False

    @classmethod
    def if_terminal(cls, stream: TextIO) -> TerminalProgress | None:
        """A progress line on ``stream`` if it is a terminal, else None (no output)."""
        return cls(stream) if stream.isatty() else None

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self._last < 0.1 and done != total:
            return
        self._last = now
        if total:
            width = 30
            filled = width * done // total
            bar = "#" * filled + "-" * (width - filled)
            text = f"\r{phase:<5} [{bar}] {done}/{total}"
        else:
            text = f"\r{phase:<5} {done}"
        self.stream.write(text)
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        """End the progress line, if one was shown."""
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
