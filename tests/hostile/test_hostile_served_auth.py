"""Password guessing and user removal against a real ``dockyard serve`` (granian), over
real HTTP: the limits and the file-following hold outside the in-process app too."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from auth_helpers import basic, write_htpasswd
from e2e_processes import ServerProcess, dockyard_config, dockyard_process


@pytest.fixture
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    """A real server behind htpasswd that locks out after 3 failures for 2 minutes (one
    per test: every client here shares 127.0.0.1, so a lockout would carry over)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    workdir = tmp_path_factory.mktemp("guarded")
    users = write_htpasswd(workdir / "htpasswd", {"alice": "right", "bob": "builder"})
    config = dockyard_config(workdir / "root", port)
    config["auth"] = {
        "htpasswd": {"realm": "dockyard", "path": str(users)},
        "ratelimit": {"attempts": 3, "window": "1m", "lockout": "2m"},
    }
    server = dockyard_process(workdir, port, config)
    server.start()
    try:
        yield server, users
    finally:
        server.stop()


def test_guessing_through_the_real_server_ends_in_429_with_retry_after(
    guarded: tuple[ServerProcess, Path],
) -> None:
    server, _ = guarded
    with httpx.Client(base_url=server.url) as client:
        for guess in ("one", "two", "three"):
            response = client.get("/v2/", headers={"authorization": basic("carol", guess)})
            assert response.status_code == 401
        refused = client.get("/v2/", headers={"authorization": basic("carol", "four")})
    assert refused.status_code == 429
    assert 110 <= int(refused.headers["retry-after"]) <= 120
    assert refused.json()["errors"][0]["code"] == "TOOMANYREQUESTS"


def test_user_removed_from_the_file_is_refused_by_the_real_server(
    guarded: tuple[ServerProcess, Path],
) -> None:
    server, users = guarded
    bob = basic("bob", "builder")
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/v2/", headers={"authorization": bob}).status_code == 200
        write_htpasswd(users, {"alice": "right"})
        deadline = time.monotonic() + 10
        while client.get("/v2/", headers={"authorization": bob}).status_code == 200:
            assert time.monotonic() < deadline, "the removal never took effect"
            time.sleep(0.2)
        assert client.get("/v2/", headers={"authorization": bob}).status_code == 401
