"""The token signing key is kept private: a configured key others may read is named in a
warning with its mode, and the folder of a generated key is 0700."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from auth_helpers import ISSUER, REALM, SERVICE, build_authorizer, ec_key
from cryptography.hazmat.primitives import serialization

from dockyard.auth.signingkey import CERT_FILE, KEY_FILE


def token_server(data_dir: Path, key: Path | None = None) -> None:
    server: dict[str, str] = {"key": str(key)} if key is not None else {}
    build_authorizer(
        {"token": {"realm": REALM, "service": SERVICE, "issuer": ISSUER}, "tokenserver": server},
        data_dir=data_dir,
    )


def key_file(path: Path, mode: int) -> Path:
    pem = ec_key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_configured_key_readable_by_others_is_named_with_its_mode(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int
) -> None:
    key = key_file(tmp_path / "signing.pem", mode)
    with caplog.at_level(logging.WARNING):
        token_server(tmp_path, key)
    assert f"the token signing key {key} has mode {mode:04o}" in caplog.text


def test_configured_key_private_to_its_owner_loads_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = key_file(tmp_path / "signing.pem", 0o600)
    with caplog.at_level(logging.WARNING):
        token_server(tmp_path, key)
    assert "signing key" not in caplog.text


def test_generated_key_folder_is_0700(tmp_path: Path) -> None:
    token_server(tmp_path)
    assert (tmp_path / "auth").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "auth" / KEY_FILE).stat().st_mode & 0o777 == 0o600


def test_pre_existing_0755_folder_of_dockyard_is_tightened(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token_server(tmp_path)
    folder = tmp_path / "auth"
    folder.chmod(0o755)
    with caplog.at_level(logging.WARNING):
        token_server(tmp_path)
    assert folder.stat().st_mode & 0o777 == 0o700
    assert f"{folder} had mode 0755; made it 0700" in caplog.text
    assert (folder / CERT_FILE).exists()


def test_pre_existing_0755_folder_holding_other_files_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "auth"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    (folder / "someone-elses.txt").write_text("x")
    with caplog.at_level(logging.WARNING):
        token_server(tmp_path)
    assert folder.stat().st_mode & 0o777 == 0o755
    assert f"{folder} has mode 0755 and holds files dockyard did not write" in caplog.text
