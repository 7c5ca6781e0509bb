"""A separate project installs dockyard as a test dependency and tests with its
``registry`` fixture: the plugin is found through the wheel's entry point alone."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from conftest import Venv

CONSUMER = Path(__file__).parent / "consumer_project"


def test_consumer_project_tests_pass_with_dockyard_installed_from_the_wheel(
    installed: Venv, wheel: Path, tmp_path: Path
) -> None:
    # A copy: outside this repository, no conftest.py of dockyard's own is in reach.
    project = tmp_path / "consumer"
    shutil.copytree(CONSUMER, project, ignore=shutil.ignore_patterns("__pycache__"))
    installed.pip_install(wheel, f"{project}[test]")
    result = subprocess.run(
        [installed.python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "9 passed" in result.stdout, result.stdout
