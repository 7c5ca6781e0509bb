"""The mirror signs in to its upstream with its own credentials: Basic, or the bearer
token flow the upstream's challenge names; a client's credentials never go upstream.
``dockyard sync`` signs in to its source the same way."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from e2e_images import OCI_MANIFEST, OciLayout
from e2e_processes import (
    ServerProcess,
    clean_environment,
    copy,
    dockyard_config,
    dockyard_process,
)
from proxy_processes import StartMirror, StartUpstream, htpasswd

USER, PASSWORD = "mirror", "mirror-secret"


@pytest.fixture
def token_upstream(tmp_path: Path, free_port: Callable[[], int]) -> Iterator[ServerProcess]:
    """dockyard with token auth and its own token server: only ``mirror`` may pull or push."""
    port = free_port()
    users = htpasswd(tmp_path / "token.htpasswd", {USER: PASSWORD})
    config = dockyard_config(tmp_path / "token-root", port)
    config["auth"] = {
        "token": {
            "realm": f"http://127.0.0.1:{port}/auth/token",
            "service": "upstream-test",
            "issuer": "upstream-test",
        },
        "tokenserver": {
            "htpasswd": str(users),
            "rules": [{"repositories": "**", "users": [USER], "actions": ["pull", "push"]}],
        },
    }
    env = {"REGISTRY_HTTP_SECRET": secrets.token_hex(16)}
    process = dockyard_process(tmp_path, port, config, env=env, name="token-upstream")
    process.start()
    yield process
    process.stop()


def test_basic_credentials_of_the_proxy_section_pull_from_the_upstream(
    start_upstream: StartUpstream, start_mirror: StartMirror, layout: OciLayout, tmp_path: Path
) -> None:
    upstream = start_upstream(users={USER: PASSWORD})
    image = layout.add_image("v1", layers=1)
    copy(
        layout.ref("v1"),
        f"docker://{upstream.host}/team/app:v1",
        "--dest-creds",
        f"{USER}:{PASSWORD}",
    )
    mirror = start_mirror({"remoteurl": upstream.url, "username": USER, "password": PASSWORD})

    pulled = OciLayout(tmp_path / "pulled")
    copy(f"docker://{mirror.host}/team/app:v1", pulled.ref("v1"))

    assert pulled.resolve("v1")[0] == image.digest


def test_bearer_token_flow_pulls_from_a_token_protected_upstream(
    token_upstream: ServerProcess, start_mirror: StartMirror, layout: OciLayout, tmp_path: Path
) -> None:
    image = layout.add_image("v1", layers=2)
    copy(
        layout.ref("v1"),
        f"docker://{token_upstream.host}/team/app:v1",
        "--dest-creds",
        f"{USER}:{PASSWORD}",
    )
    mirror = start_mirror({"remoteurl": token_upstream.url, "username": USER, "password": PASSWORD})

    pulled = OciLayout(tmp_path / "pulled")
    copy(f"docker://{mirror.host}/team/app:v1", pulled.ref("v1"))

    assert pulled.resolve("v1")[0] == image.digest


def test_a_clients_credentials_are_never_sent_upstream(
    token_upstream: ServerProcess, start_mirror: StartMirror, layout: OciLayout
) -> None:
    layout.add_image("v1", layers=1)
    copy(
        layout.ref("v1"),
        f"docker://{token_upstream.host}/team/app:v1",
        "--dest-creds",
        f"{USER}:{PASSWORD}",
    )
    mirror = start_mirror({"remoteurl": token_upstream.url})
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    response = httpx.get(
        f"{mirror.url}/v2/team/app/manifests/v1",
        headers={"Accept": OCI_MANIFEST, "Authorization": f"Basic {basic}"},
    )

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"


def test_sync_signs_in_to_a_token_protected_source_with_the_password_of_its_variable(
    token_upstream: ServerProcess, layout: OciLayout, tmp_path: Path
) -> None:
    image = layout.add_image("v1", layers=1)
    creds = f"{USER}:{PASSWORD}"
    copy(layout.ref("v1"), f"docker://{token_upstream.host}/team/app:v1", "--dest-creds", creds)
    config = tmp_path / "local.yml"
    config.write_text(
        yaml.safe_dump(
            {"version": 0.1, "storage": {"filesystem": {"rootdirectory": str(tmp_path / "l")}}}
        )
    )

    command = ["sync", "--from", token_upstream.url, "--repository", "team/app"]
    command += ["--username", USER, "--password-env", "SOURCE_PASSWORD", "--json"]
    synced = subprocess.run(
        [sys.executable, "-m", "dockyard.cli", *command, "-c", str(config)],
        capture_output=True,
        text=True,
        env=clean_environment(SOURCE_PASSWORD=PASSWORD),
        timeout=120,
        check=False,
    )

    assert synced.returncode == 0, synced.stderr
    assert json.loads(synced.stdout)["tags_copied"] == ["team/app:v1"]
    assert PASSWORD not in synced.stdout + synced.stderr
    stored = tmp_path / "l/docker/registry/v2/repositories/team/app/_manifests/tags/v1"
    assert (stored / "current/link").read_text() == image.digest
