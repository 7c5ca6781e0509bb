"""Install a Debian package the benchmark needs (the reference registry, wrk) if missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable


def _apt(*args: str) -> bool:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(["apt-get", *args], env=env, capture_output=True, text=True, timeout=600)
    return done.returncode == 0


def ensure_installed(package: str, executable: str, log: Callable[[str], None]) -> bool:
    """True once ``executable`` exists, installing ``package`` with apt-get as root if not."""
    if shutil.which(executable):
        return True
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        log(f"{executable} missing and apt-get is not usable here: install {package}")
        return False
    log(f"installing the Debian package {package}")
    args = ("install", "-y", "-qq", "--no-install-recommends", package)
    if not _apt(*args):
        _apt("update", "-qq")
        _apt(*args)
    return shutil.which(executable) is not None
