"""Fixtures of the export/import tests: the e2e image helpers, and ``dockyard`` run as a
command against configurations of filesystem registries."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "e2e"))
sys.path.insert(0, str(Path(__file__).parent.parent / "proxy"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def orasread(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``orasread LAYOUT REF``, built from ``orasread/main.go`` against Debian's ORAS Go
    library (golang-oras-oras-go-dev, in GOPATH mode: nothing is downloaded)."""
    go = shutil.which("go")
    library = Path("/usr/share/gocode/src/oras.land/oras-go")
    if go is None or not library.is_dir():
        raise AssertionError(
            "needs Go and the ORAS Go library: apt-get install golang-go golang-oras-oras-go-dev"
        )
    folder = tmp_path_factory.mktemp("orasread")
    binary = folder / "orasread"
    environment = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": "/usr/share/gocode",
        "GOCACHE": str(folder / "cache"),
        "GOFLAGS": "",
    }
    source = Path(__file__).parent / "orasread" / "main.go"
    built = subprocess.run(
        [go, "build", "-o", str(binary), str(source)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if built.returncode != 0:
        raise AssertionError(f"go build of orasread failed:\n{built.stderr}")
    return binary
