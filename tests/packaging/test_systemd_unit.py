"""packaging/dockyard.service: systemd accepts every line of it, and its sandbox leaves
nothing writable but the storage root that packaging/config.yml names."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import REPOSITORY, Venv

UNIT = REPOSITORY / "packaging" / "dockyard.service"
CONFIG = REPOSITORY / "packaging" / "config.yml"


def _service() -> dict[str, list[str]]:
    """The [Service] section, each key with all its values (keys may repeat)."""
    values: dict[str, list[str]] = {}
    section = ""
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def _verify(unit: Path) -> subprocess.CompletedProcess[str]:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze (Debian package systemd) is needed: apt-get install systemd")
    return subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )


def _unit_for(venv: Venv, directory: Path, text: str | None = None) -> Path:
    # verify checks that ExecStart exists: point it at a real installed dockyard.
    unit = directory / "dockyard.service"
    unit.write_text((text or UNIT.read_text()).replace("/opt/dockyard", str(venv.path)))
    return unit


def test_systemd_analyze_verify_accepts_the_unit(installed: Venv, tmp_path: Path) -> None:
    result = _verify(_unit_for(installed, tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_unit_check_reports_a_misspelt_key(installed: Venv, tmp_path: Path) -> None:
    misspelt = UNIT.read_text().replace("ProtectHome=yes", "ProtectHom=yes")
    result = _verify(_unit_for(installed, tmp_path, misspelt))
    assert "Unknown key 'ProtectHom'" in result.stderr


def test_unit_runs_as_an_unprivileged_user_without_new_privileges() -> None:
    service = _service()
    assert service["DynamicUser"] == ["yes"]
    assert service["NoNewPrivileges"] == ["yes"]
    assert service["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]


def test_unit_can_write_only_the_storage_root_of_its_configuration() -> None:
    service = _service()
    root = yaml.safe_load(CONFIG.read_text())["storage"]["filesystem"]["rootdirectory"]
    assert service["ProtectSystem"] == ["strict"]
    assert service["ProtectHome"] == ["yes"]
    assert service["PrivateTmp"] == ["yes"]
    assert service["ReadWritePaths"] == [root]
    assert service["StateDirectory"] == [Path(root).name]


def test_unit_serves_the_configuration_it_documents() -> None:
    (start,) = _service()["ExecStart"]
    assert start == "/opt/dockyard/bin/dockyard serve /etc/dockyard/config.yml"
    # The unit file parses as INI, the form packaging tools read.
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read_string(UNIT.read_text())
    assert parser["Install"]["WantedBy"] == "multi-user.target"
