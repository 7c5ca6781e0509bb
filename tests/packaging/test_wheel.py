"""The wheel, installed into a fresh virtual environment without extras, is a working
registry: the ``dockyard`` command serves, ``python -m dockyard`` runs, and the
configurations that need an extra say which."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from conftest import Venv, run


def _write_config(path: Path, config: dict[str, object]) -> Path:
    path.write_text(json.dumps(config))
    return path


@pytest.fixture
def served(
    installed: Venv, tmp_path: Path, free_port: Callable[[], int]
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`dockyard serve` from the fresh venv, filesystem storage, on a free port."""
    port = free_port()
    config = _write_config(
        tmp_path / "config.yml",
        {
            "version": "0.1",
            "storage": {"filesystem": {"rootdirectory": str(tmp_path / "data")}},
            "http": {"addr": f"127.0.0.1:{port}", "secret": "s" * 32},
        },
    )
    process = subprocess.Popen(
        [installed.dockyard, "serve", config],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "stderr.log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            httpx.get(f"{url}/v2/", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    try:
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_installed_wheel_serves_the_distribution_api(
    served: tuple[subprocess.Popen[bytes], str],
) -> None:
    _, url = served
    answer = httpx.get(f"{url}/v2/")
    assert answer.status_code == 200
    assert answer.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_installed_wheel_server_exits_0_on_sigterm(
    served: tuple[subprocess.Popen[bytes], str],
) -> None:
    process, _ = served
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0


def test_python_m_dockyard_reports_the_installed_version(installed: Venv) -> None:
    result = run([installed.python, "-m", "dockyard", "--version"])
    assert result.stdout.strip() == "dockyard 0.1.0"


def test_default_install_leaves_out_the_s3_and_redis_clients(installed: Venv) -> None:
    probe = "import importlib.util as u; print(u.find_spec('aiobotocore'), u.find_spec('redis'))"
    assert run([installed.python, "-c", probe]).stdout.split() == ["None", "None"]


def test_s3_storage_without_the_s3_extra_is_refused_naming_the_extra(
    installed: Venv, tmp_path: Path
) -> None:
    config = _write_config(
        tmp_path / "s3.yml",
        {
            "version": "0.1",
            "storage": {
                "s3": {
                    "bucket": "images",
                    "region": "us-east-1",
                    "regionendpoint": "http://127.0.0.1:9",
                    "accesskey": "a",
                    "secretkey": "b",
                }
            },
            "http": {"addr": "127.0.0.1:0", "secret": "s" * 32},
        },
    )
    result = subprocess.run(
        [installed.dockyard, "serve", config], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "pip install 'dockyard[s3]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_redis_cache_without_the_redis_extra_is_refused_naming_the_extra(
    installed: Venv, tmp_path: Path
) -> None:
    config = _write_config(
        tmp_path / "redis.yml",
        {
            "version": "0.1",
            "storage": {
                "filesystem": {"rootdirectory": str(tmp_path / "data")},
                "cache": {"blobdescriptor": "redis"},
            },
            "redis": {"addr": "127.0.0.1:9"},
        },
    )
    result = subprocess.run(
        [installed.dockyard, "config", "check", config], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "pip install 'dockyard[redis]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_wheel_metadata_states_the_license_as_an_spdx_expression(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(name).decode()
        names = archive.namelist()
    assert "License-Expression: Apache-2.0" in metadata
    assert "License-File: LICENSE" in metadata
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def test_wheel_requires_s3_and_redis_clients_only_through_their_extras(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        requirements = [
            line.split(":", 1)[1].strip()
            for line in archive.read(name).decode().splitlines()
            if line.startswith("Requires-Dist:")
        ]
    optional = [r for r in requirements if r.startswith(("aiobotocore", "redis"))]
    assert optional
    assert all("extra ==" in r for r in optional)


def test_wheel_registers_the_pytest_plugin(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
        entry_points = archive.read(name).decode()
    assert "[pytest11]\ndockyard = dockyard.testing.plugin" in entry_points
