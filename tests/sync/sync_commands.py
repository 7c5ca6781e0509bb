"""``dockyard`` run as a command, against configurations of filesystem registries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from e2e_processes import clean_environment


def registry_config(tmp_path: Path, name: str, **extra: Any) -> Path:
    path = tmp_path / f"{name}.yml"
    config = {
        "version": 0.1,
        "storage": {"filesystem": {"rootdirectory": str(tmp_path / f"{name}-root")}},
        "http": {"secret": "export-test"},
        **extra,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def dockyard(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dockyard.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=clean_environment(),
        timeout=120,
        check=False,
    )
