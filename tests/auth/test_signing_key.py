"""The token server's signing key: generated once, kept private, reused."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from dockyard.auth.errors import AuthConfigError
from dockyard.auth.signingkey import CERT_FILE, KEY_FILE, generated_signing_key, load_signing_key


def test_key_is_generated_as_ec_p256(tmp_path: Path) -> None:
    key = generated_signing_key(tmp_path, "auth.tokenserver.key")
    assert isinstance(key.private_key, ec.EllipticCurvePrivateKey)
    assert key.private_key.curve.name == "secp256r1"
    assert key.algorithm == "ES256"


def test_generated_key_file_is_private(tmp_path: Path) -> None:
    generated_signing_key(tmp_path, "k")
    assert stat.S_IMODE((tmp_path / "auth" / KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "auth").stat().st_mode) == 0o700


def test_key_is_reused_on_restart(tmp_path: Path) -> None:
    first = generated_signing_key(tmp_path, "k")
    second = generated_signing_key(tmp_path, "k")
    assert first.kid == second.kid


def test_certificate_for_the_key_is_written(tmp_path: Path) -> None:
    key = generated_signing_key(tmp_path, "k")
    cert = x509.load_pem_x509_certificate((tmp_path / "auth" / CERT_FILE).read_bytes())
    assert cert.public_key() == key.public_key


def test_key_readable_by_others_is_made_private(tmp_path: Path) -> None:
    generated_signing_key(tmp_path, "k")
    path = tmp_path / "auth" / KEY_FILE
    path.chmod(0o644)
    generated_signing_key(tmp_path, "k")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_no_temporary_files_are_left_behind(tmp_path: Path) -> None:
    generated_signing_key(tmp_path, "k")
    assert sorted(p.name for p in (tmp_path / "auth").iterdir()) == sorted([KEY_FILE, CERT_FILE])


def test_unwritable_data_folder_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(AuthConfigError, match=r"auth\.tokenserver\.key"):
        generated_signing_key(tmp_path / "file", "auth.tokenserver.key")


def test_configured_key_that_is_not_a_key_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(AuthConfigError, match=r"auth\.tokenserver\.key: not an unencrypted PEM"):
        load_signing_key(path, "auth.tokenserver.key")


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    with ThreadPoolExecutor(4) as pool:
        kids = set(pool.map(lambda _: generated_signing_key(tmp_path, "k").kid, range(8)))
    assert len(kids) == 1
