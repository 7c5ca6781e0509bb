"""skopeo (and podman) against a real ``dockyard serve`` behind htpasswd and behind the
built-in token server; and the reference registry trusting dockyard's tokens."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from auth_helpers import write_htpasswd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from e2e_images import OciLayout  # type: ignore[import-not-found, unused-ignore]
from e2e_processes import (  # type: ignore[import-not-found, unused-ignore]
    DOCKER_REGISTRY,
    ServerProcess,
    clean_environment,
    copy,
    dockyard_config,
    dockyard_process,
    have,
    skopeo,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _need_skopeo() -> None:
    if not have("skopeo"):
        pytest.fail(
            "skopeo (Debian package) is missing",
            pytrace=False,
        )


PASSWORDS = {"alice": "alice-Secret-1", "bob": "bob-Secret-2"}
SERVICE = "dockyard-e2e"
RULES: list[dict[str, Any]] = [
    {"repositories": "${user}/**", "users": ["*"], "actions": ["*"]},
    {"repositories": "public/**", "users": ["alice"], "actions": ["pull", "push"]},
    {"repositories": "public/**", "users": ["*"], "anonymous": True, "actions": ["pull"]},
]

StartServer = Callable[..., ServerProcess]


@pytest.fixture
def users(tmp_path: Path) -> Path:
    return write_htpasswd(tmp_path / "htpasswd", PASSWORDS, rounds=5)


@pytest.fixture
def start_server(tmp_path: Path, free_port: Callable[[], int]) -> Iterator[StartServer]:
    """Start ``dockyard serve`` with an ``auth`` section (``{port}`` is filled in)."""
    started: list[ServerProcess] = []

    def start(auth: dict[str, Any], workers: int = 1) -> ServerProcess:
        port = free_port()
        config = dockyard_config(tmp_path / "root", port, workers=workers)
        config["auth"] = yaml.safe_load(yaml.safe_dump(auth).replace("{port}", str(port)))
        process = dockyard_process(
            tmp_path, port, config, env={"REGISTRY_HTTP_SECRET": "e2e"}, name=f"dy{len(started)}"
        )
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def htpasswd_server(start_server: StartServer, users: Path) -> ServerProcess:
    return start_server({"htpasswd": {"realm": "dockyard-e2e", "path": str(users)}})


def token_auth(users: Path) -> dict[str, Any]:
    return {
        "token": {
            "realm": "http://127.0.0.1:{port}/auth/token",
            "service": SERVICE,
            "issuer": "dockyard-e2e-issuer",
        },
        "tokenserver": {"htpasswd": str(users), "rules": RULES},
    }


@pytest.fixture
def token_server(start_server: StartServer, users: Path) -> ServerProcess:
    return start_server(token_auth(users))


@pytest.fixture
def image(tmp_path: Path) -> OciLayout:
    layout = OciLayout(tmp_path / "source")
    layout.add_image("v1", layers=2)
    return layout


def creds(user: str, password: str | None = None) -> str:
    return f"{user}:{password or PASSWORDS[user]}"


def refused(*args: str) -> str:
    """Run skopeo expecting failure; returns its error output."""
    with pytest.raises(AssertionError) as info:
        skopeo(*args)
    return str(info.value)


def assert_no_secrets_logged(server: ServerProcess, *extra: str) -> None:
    logs = server.stdout() + server.stderr()
    for secret in [*PASSWORDS.values(), *extra]:
        assert secret not in logs


# --- htpasswd ---------------------------------------------------------------------------


def test_htpasswd_copy_in_and_out_with_credentials(
    htpasswd_server: ServerProcess, image: OciLayout, tmp_path: Path
) -> None:
    target = f"docker://{htpasswd_server.host}/team/app:v1"
    copy(image.ref("v1"), target, "--dest-creds", creds("alice"))
    pulled = OciLayout(tmp_path / "pulled")
    copy(target, pulled.ref("v1"), "--src-creds", creds("bob"))
    assert pulled.resolve("v1") == image.resolve("v1")
    assert_no_secrets_logged(htpasswd_server)


def test_htpasswd_copy_with_a_wrong_password_is_refused(
    htpasswd_server: ServerProcess, image: OciLayout
) -> None:
    error = refused(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        creds("alice", "wrong-password"),
        image.ref("v1"),
        f"docker://{htpasswd_server.host}/team/app:v1",
    )
    assert "unauthorized" in error.lower() or "401" in error
    assert_no_secrets_logged(htpasswd_server, "wrong-password")


def test_htpasswd_anonymous_pull_is_refused(htpasswd_server: ServerProcess) -> None:
    response = httpx.get(f"{htpasswd_server.url}/v2/team/app/tags/list")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="dockyard-e2e"'


def test_htpasswd_login_then_copy_with_the_stored_credentials(
    htpasswd_server: ServerProcess, image: OciLayout, tmp_path: Path
) -> None:
    authfile = tmp_path / "auth.json"
    skopeo(
        "login",
        "--tls-verify=false",
        "--authfile",
        str(authfile),
        "-u",
        "alice",
        "-p",
        PASSWORDS["alice"],
        htpasswd_server.host,
    )
    copy(
        image.ref("v1"),
        f"docker://{htpasswd_server.host}/team/app:v2",
        "--dest-authfile",
        str(authfile),
    )
    listed = skopeo(
        "list-tags",
        "--tls-verify=false",
        "--authfile",
        str(authfile),
        f"docker://{htpasswd_server.host}/team/app",
    )
    assert "v2" in listed


def test_htpasswd_login_with_a_wrong_password_fails(
    htpasswd_server: ServerProcess, tmp_path: Path
) -> None:
    refused(
        "login",
        "--tls-verify=false",
        "--authfile",
        str(tmp_path / "auth.json"),
        "-u",
        "alice",
        "-p",
        "nope",
        htpasswd_server.host,
    )


# --- the built-in token server ------------------------------------------------------------


def test_token_server_copy_into_own_namespace_and_back(
    token_server: ServerProcess, image: OciLayout, tmp_path: Path
) -> None:
    target = f"docker://{token_server.host}/bob/app:v1"
    copy(image.ref("v1"), target, "--dest-creds", creds("bob"))
    pulled = OciLayout(tmp_path / "pulled")
    copy(target, pulled.ref("v1"), "--src-creds", creds("bob"))
    assert pulled.resolve("v1") == image.resolve("v1")
    assert_no_secrets_logged(token_server)


def test_workers_share_one_generated_signing_key(
    start_server: StartServer, users: Path, image: OciLayout, tmp_path: Path
) -> None:
    server = start_server(token_auth(users), workers=2)
    for tag in ("v1", "v2", "v3"):
        copy(
            image.ref("v1"),
            f"docker://{server.host}/alice/app:{tag}",
            "--dest-creds",
            creds("alice"),
        )
    keys = sorted(p.name for p in (tmp_path / "root" / "auth").iterdir())
    assert keys == ["token-signing-cert.pem", "token-signing-key.pem"]
    jwks = [httpx.get(f"{server.url}/auth/jwks.json").json() for _ in range(6)]
    assert all(document == jwks[0] for document in jwks)


def test_token_server_refuses_a_push_into_another_users_namespace(
    token_server: ServerProcess, image: OciLayout
) -> None:
    error = refused(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        creds("bob"),
        image.ref("v1"),
        f"docker://{token_server.host}/alice/app:v1",
    )
    assert "denied" in error.lower() or "unauthorized" in error.lower()


def test_token_server_refuses_wrong_credentials(
    token_server: ServerProcess, image: OciLayout
) -> None:
    error = refused(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        creds("bob", "not-it"),
        image.ref("v1"),
        f"docker://{token_server.host}/bob/app:v1",
    )
    assert "unauthorized" in error.lower() or "password" in error.lower()


def test_anonymous_pull_of_a_public_repository(
    token_server: ServerProcess, image: OciLayout, tmp_path: Path
) -> None:
    target = f"docker://{token_server.host}/public/app:v1"
    copy(image.ref("v1"), target, "--dest-creds", creds("alice"))
    pulled = OciLayout(tmp_path / "pulled")
    copy(target, pulled.ref("v1"))
    assert pulled.resolve("v1") == image.resolve("v1")
    refused(
        "copy",
        "--dest-tls-verify=false",
        image.ref("v1"),
        f"docker://{token_server.host}/public/app:v2",
    )


def test_token_server_login_then_copy(
    token_server: ServerProcess, image: OciLayout, tmp_path: Path
) -> None:
    authfile = tmp_path / "auth.json"
    skopeo(
        "login",
        "--tls-verify=false",
        "--authfile",
        str(authfile),
        "-u",
        "alice",
        "-p",
        PASSWORDS["alice"],
        token_server.host,
    )
    copy(
        image.ref("v1"),
        f"docker://{token_server.host}/alice/app:v1",
        "--dest-authfile",
        str(authfile),
    )
    refused(
        "login",
        "--tls-verify=false",
        "--authfile",
        str(tmp_path / "other.json"),
        "-u",
        "alice",
        "-p",
        "nope",
        token_server.host,
    )


# --- the reference registry trusting dockyard's tokens ------------------------------------


def test_reference_registry_accepts_tokens_from_dockyards_token_server(
    token_server: ServerProcess, image: OciLayout, tmp_path: Path, free_port: Callable[[], int]
) -> None:
    port = free_port()
    certificate = tmp_path / "root" / "auth" / "token-signing-cert.pem"
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(tmp_path / "reference-root")}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": "reference-secret"},
        "auth": {
            "token": {
                "realm": f"{token_server.url}/auth/token",
                "service": SERVICE,
                "issuer": "dockyard-e2e-issuer",
                "rootcertbundle": str(certificate),
            }
        },
    }
    (tmp_path / "reference.yml").write_text(yaml.safe_dump(config))
    reference = ServerProcess(
        "docker-registry",
        [DOCKER_REGISTRY, "serve", str(tmp_path / "reference.yml")],
        cwd=tmp_path,
        env=clean_environment(),
        port=port,
    )
    reference.start()
    try:
        copy(
            image.ref("v1"),
            f"docker://{reference.host}/alice/app:v1",
            "--dest-creds",
            creds("alice"),
        )
        refused(
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            creds("bob"),
            image.ref("v1"),
            f"docker://{reference.host}/alice/app:v2",
        )
    finally:
        reference.stop()


# --- podman -------------------------------------------------------------------------------


class Podman:
    """podman as root with vfs storage of its own (runroot outside tmp_path: length limit)."""

    def __init__(self, root: Path, run: Path) -> None:
        self.argv = [
            "podman", "--root", str(root), "--runroot", str(run), "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs", "--events-backend", "none",
        ]  # fmt: skip

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run([*self.argv, *args], capture_output=True, timeout=180, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} failed:\n{result.stderr.decode()}")
        return result


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[Podman]:
    if not have("podman") or os.geteuid() != 0:
        pytest.fail(
            "podman (Debian package) as root is needed",
            pytrace=False,
        )
    run = Path(tempfile.mkdtemp(prefix="dy-auth-podman-"))
    try:
        yield Podman(tmp_path / "podman-root", run)
    finally:
        shutil.rmtree(run, ignore_errors=True)


def test_podman_login_push_and_pull_through_the_token_server(
    token_server: ServerProcess, image: OciLayout, podman: Podman, tmp_path: Path
) -> None:
    podman("pull", image.ref("v1"))
    image_id = podman("images", "-q", "--no-trunc").stdout.decode().split()[0]
    authfile = str(tmp_path / "podman-auth.json")
    host = token_server.host
    wrong = podman(
        "login", "--tls-verify=false", "--authfile", authfile, "-u", "alice", "-p", "nope", host,
        check=False,
    )  # fmt: skip
    assert wrong.returncode != 0
    podman(
        "login", "--tls-verify=false", "--authfile", authfile,
        "-u", "alice", "-p", PASSWORDS["alice"], host,
    )  # fmt: skip
    reference = f"{host}/alice/pod:v1"
    podman("push", "--tls-verify=false", "--authfile", authfile, image_id, reference)
    podman("rmi", "--all", "--force")
    podman("pull", "--tls-verify=false", "--authfile", authfile, reference)
    assert image_id.removeprefix("sha256:") in podman("images", "-q", "--no-trunc").stdout.decode()
    denied = podman(
        "push", "--tls-verify=false", "--authfile", authfile, image_id, f"{host}/bob/pod:v1",
        check=False,
    )  # fmt: skip
    assert denied.returncode != 0
    assert_no_secrets_logged(token_server)
