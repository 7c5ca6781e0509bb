"""The processes of the pull-through cache tests: a reference registry as the upstream,
its access log read back to count the requests the mirror sent it."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import bcrypt

sys.path.insert(0, str(Path(__file__).parent.parent / "e2e"))
sys.path.insert(0, str(Path(__file__).parent.parent / "cache"))

from e2e_images import OciLayout
from e2e_processes import (
    DOCKER_REGISTRY,
    ServerProcess,
    clean_environment,
    dockyard_config,
    dockyard_process,
    have,
)

__all__ = [
    "DOCKER_REGISTRY",
    "OciLayout",
    "ServerProcess",
    "StartMirror",
    "StartUpstream",
    "Upstream",
    "clean_environment",
    "dockyard_config",
    "dockyard_process",
    "have",
    "htpasswd",
]


class Upstream(ServerProcess):
    """A reference registry serving as the upstream; its access log is its stdout."""

    def requests(self, method: str, path_pattern: str) -> int:
        """How many requests with ``method`` to a path matching ``path_pattern`` it served."""
        pattern = re.compile(rf'"(?:{method}) ({path_pattern})(\?[^ ]*)? HTTP/1\.1" (\d+)')
        return sum(1 for line in self.stdout().splitlines() if pattern.search(line))


def htpasswd(path: Path, users: dict[str, str]) -> Path:
    lines = [
        f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
        for user, password in users.items()
    ]
    path.write_text("".join(lines))
    return path


StartUpstream = Callable[..., Upstream]
StartMirror = Callable[..., ServerProcess]
