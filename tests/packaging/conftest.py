"""dockyard as users install it: the wheel built once per session, installed into a fresh
virtual environment without the test dependencies."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]

# The consumer project's tests run in its own environment (test_consumer_project.py).
collect_ignore = ["consumer_project"]


def run(argv: list[str | Path], **options: object) -> subprocess.CompletedProcess[str]:
    """Run a command; fail the test with its output when it fails."""
    result = subprocess.run(
        [str(arg) for arg in argv],
        capture_output=True,
        text=True,
        check=False,
        **options,  # type: ignore[call-overload]
    )
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, argv))} exited {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dockyard's wheel, built from this checkout as `pip wheel` builds it for users."""
    source = tmp_path_factory.mktemp("source")
    # From a copy, so that the build's egg-info and build/ folders stay out of the checkout.
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPOSITORY / name, source / name)
    shutil.copytree(
        REPOSITORY / "dockyard", source / "dockyard", ignore=shutil.ignore_patterns("__pycache__")
    )
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", out, source])
    (built,) = out.glob("dockyard-*.whl")
    return built


@dataclass(frozen=True)
class Venv:
    """A virtual environment of its own, with dockyard installed from the wheel."""

    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def dockyard(self) -> Path:
        return self.path / "bin" / "dockyard"

    def pip_install(self, *requirements: str | Path) -> None:
        # This environment's pip installs into the other one: no pip of its own needed.
        run([sys.executable, "-m", "pip", "--python", self.python, "install", "-q", *requirements])


@pytest.fixture(scope="session")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A fresh venv with the wheel installed as `pip install dockyard` would: no extras."""
    venv = Venv(tmp_path_factory.mktemp("venv") / "env")
    run([sys.executable, "-m", "venv", "--without-pip", venv.path])
    venv.pip_install(wheel)
    return venv
