"""A separate project installs dockyard as a test dependency and tests with its
``registry`` fixture: the plugin is found through the wheel's entry point alone."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import Venv

CONSUMER = Path(__file__).parent / "consumer_project"


@pytest.fixture(scope="module")
def consumer(installed: Venv, wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The consumer project, installed with its test extra (dockyard from the wheel)."""
    # A copy: outside this repository, no conftest.py of dockyard's own is in reach.
    project = tmp_path_factory.mktemp("consumer") / "consumer"
    shutil.copytree(CONSUMER, project, ignore=shutil.ignore_patterns("__pycache__"))
    installed.pip_install(wheel, f"{project}[test]")
    return project


def _pytest(venv: Venv, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [venv.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_consumer_project_tests_pass_with_dockyard_installed_from_the_wheel(
    installed: Venv, consumer: Path
) -> None:
    result = _pytest(installed, consumer)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 passed" in result.stdout, result.stdout


def test_pytest_run_without_registries_loads_only_the_plugin(
    installed: Venv, consumer: Path
) -> None:
    result = _pytest(installed, consumer, "unrelated_tests")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout, result.stdout
