"""The ``dockyard`` command line, run in-process: exit codes and what it prints."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from s3_server import SeaweedFS

from dockyard.cli import EXIT_CONFIG, main


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yml"
    path.write_text(text)
    return path


VALID = """\
version: 0.1
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:5123
  secret: s3cr3t
middleware:
  registry:
    - name: ARegistryMiddleware
"""


def test_config_check_accepts_a_valid_file_and_summarises_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, VALID.format(root=tmp_path / "data"))
    assert main(["config", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: valid" in out
    assert f"storage: filesystem {tmp_path / 'data'}" in out
    assert "listen:  127.0.0.1:5123" in out
    assert "delete:  enabled" in out


def test_config_check_prints_warnings_for_unsupported_sections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, VALID.format(root=tmp_path / "data"))
    main(["config", "check", str(path)])
    assert "warning: middleware: middleware is not supported" in capsys.readouterr().out


def test_config_check_never_prints_the_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, VALID.format(root=tmp_path / "data"))
    main(["config", "check", str(path)])
    assert "s3cr3t" not in capsys.readouterr().out


def test_config_check_rejects_an_invalid_file_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "version: 0.1\nstorage:\n  inmemory:\n  delete:\n    enabled: maybe\n")
    assert main(["config", "check", str(path)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "storage.delete.enabled: expected a boolean, got 'maybe'" in err
    assert "Traceback" not in err


def test_config_check_rejects_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "check", str(tmp_path / "absent.yml")]) == EXIT_CONFIG
    assert "cannot read configuration file" in capsys.readouterr().err


def test_config_check_rejects_several_workers_on_inmemory_storage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "version: 0.1\nstorage: inmemory\nhttp:\n  workers: 2\n")
    assert main(["config", "check", str(path)]) == EXIT_CONFIG
    assert "http.workers: the inmemory driver" in capsys.readouterr().err


def test_config_check_rejects_an_unknown_auth_scheme(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "version: 0.1\nstorage: inmemory\nauth:\n  kerberos:\n    realm: x\n")
    assert main(["config", "check", str(path)]) == EXIT_CONFIG
    assert "configuration error: auth.kerberos" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("auth:\n  htpasswd:\n    realm: r\n", "auth.htpasswd.path: required"),
        ("auth:\n  htpasswd:\n    path: {tmp}/absent\n", "auth.htpasswd.path: cannot read"),
        (
            "auth:\n  token:\n    realm: https://r/auth\n    service: s\n    issuer: i\n"
            "  tokenserver:\n    rules:\n      - repositories: a/*\n        user: [bob]\n",
            "auth.tokenserver.rules[0].user: unknown key of an access rule",
        ),
        (
            "auth:\n  token:\n    realm: https://r/auth\n    service: s\n    issuer: i\n"
            "  tokenserver:\n    expiration: 10s\n",
            "auth.tokenserver.expiration: must be at least 60s",
        ),
        ("auth:\n  ratelimit:\n    lockout: soon\n", "auth.ratelimit.lockout: expected a duration"),
        ("http:\n  tls:\n    certificate: {tmp}/cert.pem\n    key: {tmp}/cert.pem\n", None),
    ],
)
def test_config_check_refuses_what_serve_would_fail_on_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], section: str, message: str | None
) -> None:
    (tmp_path / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")
    if message is None:
        message = "http.tls.certificate: not a PEM certificate"
    text = "version: 0.1\nstorage: inmemory\n" + section.format(tmp=tmp_path)
    path = write(tmp_path, text)
    assert main(["config", "check", str(path)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert f"configuration error: {message}" in err
    assert "Traceback" not in err


def test_config_check_names_the_auth_scheme_it_validated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the token server keeps its key in ./.data
    text = (
        "version: 0.1\nstorage: inmemory\nauth:\n  token:\n    realm: https://r/auth\n"
        "    service: s\n    issuer: i\n  tokenserver:\n    enabled: true\n"
    )
    assert main(["config", "check", str(write(tmp_path, text))]) == 0
    assert "auth:    token, tokenserver" in capsys.readouterr().out


def test_serve_with_an_invalid_file_exits_before_listening(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "version: 0.1\nstorage: inmemory\nhttp:\n  addr: nowhere\n")
    assert main(["serve", str(path)]) == EXIT_CONFIG
    assert "http.addr: expected host:port" in capsys.readouterr().err


def test_serve_takes_the_file_from_registry_configuration_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "version: 0.1\nlog:\n  level: loud\n")
    monkeypatch.setenv("REGISTRY_CONFIGURATION_PATH", str(path))
    assert main(["serve"]) == EXIT_CONFIG
    assert "log.level: expected one of" in capsys.readouterr().err


@pytest.mark.timeout(30)
def test_serve_rejects_an_unusable_storage_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    path = write(
        tmp_path,
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {blocker}/root\n"
        "http:\n  addr: 127.0.0.1:0\n",
    )
    assert main(["serve", str(path)]) == EXIT_CONFIG
    assert "storage.filesystem.rootdirectory: cannot create" in capsys.readouterr().err


def test_gc_on_inmemory_storage_has_nothing_to_collect(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "version: 0.1\nstorage: inmemory\n")
    assert main(["gc", str(path), "--dry-run"]) == 0
    assert "nothing to collect" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2


def test_module_runs_as_a_program(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.format(root=tmp_path / "data"))
    result = subprocess.run(
        [sys.executable, "-m", "dockyard.cli", "config", "check", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "valid" in result.stdout


@pytest.mark.timeout(30)
def test_serve_on_an_address_in_use_fails_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = write(
            tmp_path, f"version: 0.1\nstorage: inmemory\nhttp:\n  addr: 127.0.0.1:{port}\n"
        )
        assert main(["serve", str(path)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert f"http.addr: cannot listen on 127.0.0.1:{port}" in err
    assert "Traceback" not in err


def test_version_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("dockyard ")


DEBIAN_CONFIG = """\
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: basic-realm
    path: {htpasswd}
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
"""


def test_config_check_accepts_the_debian_packages_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("")
    path = write(tmp_path, DEBIAN_CONFIG.format(root=tmp_path / "data", htpasswd=htpasswd))
    assert main(["config", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "auth:    htpasswd" in out
    assert "warning: health" not in out


def test_serving_supervisor_imports_neither_the_app_nor_auth_nor_cache_clients() -> None:
    # The supervisor only forks workers: every module it imports is resident memory
    # counted once more next to theirs.
    code = (
        "import sys, dockyard.cli, dockyard.serving, dockyard.assembly, dockyard.logs\n"
        "heavy = ('dockyard.api', 'dockyard.auth', 'starlette', 'cryptography', 'redis',"
        " 'aiobotocore', 'dockyard.storage.registry')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_serve_runs_one_worker_unless_configured_otherwise() -> None:
    from dockyard.config import load
    from dockyard.serving import worker_count

    assert worker_count(load(None)) == 1


def test_config_check_refuses_debians_own_config_saying_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Debian's /etc/docker/registry/config.yml points the htpasswd path at its own folder.
    folder = tmp_path / "etc-docker-registry"
    folder.mkdir()
    path = write(tmp_path, DEBIAN_CONFIG.format(root=tmp_path / "data", htpasswd=folder))
    assert main(["config", "check", str(path)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert f"auth.htpasswd.path: {folder} is a folder, not an htpasswd file" in err
    assert "refuses every login" in err


@pytest.mark.parametrize("command", [["config", "check"], ["serve"]])
def test_a_certificate_that_does_not_load_stops_check_and_serve_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    (tmp_path / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\nnope\n")
    (tmp_path / "key.pem").write_text("nope")
    path = write(
        tmp_path,
        f"version: 0.1\nstorage: inmemory\nhttp:\n  addr: 127.0.0.1:0\n  tls:\n"
        f"    certificate: {tmp_path / 'cert.pem'}\n    key: {tmp_path / 'key.pem'}\n",
    )
    assert main([*command, str(path)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "configuration error: http.tls.certificate: not a PEM certificate" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", [["config", "check"], ["serve"]])
def test_an_unsupported_version_stops_check_and_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    path = write(tmp_path, "version: 0.2\nstorage: inmemory\n")
    assert main([*command, str(path)]) == EXIT_CONFIG
    assert "version: dockyard reads configuration version 0.1" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["config", "check"], ["serve"]])
def test_a_file_without_storage_stops_check_and_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    path = write(tmp_path, "version: 0.1\nhttp:\n  addr: 127.0.0.1:0\n")
    assert main([*command, str(path)]) == EXIT_CONFIG
    assert "configuration error: storage: missing" in capsys.readouterr().err


def test_config_check_names_a_typo_in_a_driver_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], seaweedfs: SeaweedFS
) -> None:
    params = seaweedfs.driver_params()
    lines = "".join(f"    {key}: {value!r}\n" for key, value in params.items())
    path = write(
        tmp_path,
        f"version: 0.1\nstorage:\n  s3:\n{lines}    regionendpint: http://127.0.0.1:1\n",
    )
    assert main(["config", "check", str(path)]) == 0
    assert "warning: storage.s3.regionendpint: unknown key; ignored" in capsys.readouterr().out
