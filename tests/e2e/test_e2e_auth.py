"""``dockyard serve`` with access control configured, driven by skopeo and podman-style
clients: htpasswd (Basic) and the built-in token server (Bearer)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import bcrypt
import httpx
import pytest
from e2e_images import OciLayout
from e2e_processes import StartDockyard, copy, skopeo


def htpasswd(tmp_path: Path, users: dict[str, str]) -> Path:
    path = tmp_path / "htpasswd"
    path.write_text(
        "".join(
            f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
            for user, password in users.items()
        )
    )
    return path


def test_htpasswd_requires_credentials_and_accepts_valid_ones(
    start_dockyard: StartDockyard, layout: OciLayout, tmp_path: Path
) -> None:
    users = htpasswd(tmp_path, {"alice": "wonderland"})
    server = start_dockyard(config={"auth": {"htpasswd": {"realm": "dy", "path": str(users)}}})
    challenge = httpx.get(f"{server.url}/v2/")
    assert challenge.status_code == 401
    assert challenge.headers["www-authenticate"].startswith("Basic")

    image = layout.add_image("v1", layers=1)
    with pytest.raises(AssertionError):
        copy(layout.ref("v1"), f"docker://{server.host}/private/app:v1")
    with pytest.raises(AssertionError):
        copy(
            layout.ref("v1"),
            f"docker://{server.host}/private/app:v1",
            "--dest-creds",
            "alice:wrong",
        )
    copy(
        layout.ref("v1"),
        f"docker://{server.host}/private/app:v1",
        "--dest-creds",
        "alice:wonderland",
    )
    pulled = OciLayout(tmp_path / "pulled")
    copy(
        f"docker://{server.host}/private/app:v1",
        pulled.ref("v1"),
        "--src-creds",
        "alice:wonderland",
    )
    assert pulled.resolve("v1")[0] == image.digest


def test_token_server_issues_tokens_that_every_worker_accepts(
    start_dockyard: StartDockyard,
    layout: OciLayout,
    tmp_path: Path,
    free_port: Callable[[], int],
) -> None:
    users = htpasswd(tmp_path, {"bob": "builder"})
    port = free_port()
    auth = {
        "token": {
            "realm": f"http://127.0.0.1:{port}/auth/token",
            "service": "dockyard-test",
            "issuer": "dockyard-test",
        },
        "tokenserver": {
            "htpasswd": str(users),
            "rules": [
                {"repositories": "**", "users": ["bob"], "actions": ["pull", "push", "delete"]},
                {
                    "repositories": "public/**",
                    "users": ["*"],
                    "anonymous": True,
                    "actions": ["pull"],
                },
            ],
        },
    }
    server = start_dockyard(config={"auth": auth}, workers=2, port=port)
    challenge = httpx.get(f"{server.url}/v2/")
    assert challenge.status_code == 401
    assert challenge.headers["www-authenticate"].startswith("Bearer ")

    image = layout.add_image("v1", layers=2)
    with pytest.raises(AssertionError):
        copy(layout.ref("v1"), f"docker://{server.host}/bob/app:v1")
    for attempt in range(3):
        copy(
            layout.ref("v1"),
            f"docker://{server.host}/bob/app:v{attempt}",
            "--dest-creds",
            "bob:builder",
        )
    tags = skopeo(
        "list-tags",
        "--tls-verify=false",
        "--creds",
        "bob:builder",
        f"docker://{server.host}/bob/app",
    )
    assert '"v0"' in tags
    assert '"v2"' in tags
    pulled = OciLayout(tmp_path / "pulled")
    copy(f"docker://{server.host}/bob/app:v1", pulled.ref("v1"), "--src-creds", "bob:builder")
    assert pulled.resolve("v1")[0] == image.digest
