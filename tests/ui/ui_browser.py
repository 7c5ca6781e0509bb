"""Real things for the browser tests: a ``dockyard serve`` process with the built-in
token server, clients that push to it with tokens, and headless Chromium (Selenium)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from e2e_processes import ServerProcess, dockyard_config, dockyard_process
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
)


def registry_config(root: Path, port: int, htpasswd: Path) -> dict[str, Any]:
    """Token auth with the built-in server: alice may do anything in her repositories,
    bob may only pull ``team/*``, anyone may pull ``public/*``; alice gets the catalog."""
    config = dockyard_config(root, port)
    config["storage"]["maintenance"] = {"uploadpurging": {"enabled": False}}
    config["http"]["secret"] = "browser-test-secret"
    config["auth"] = {
        "token": {
            "realm": f"http://127.0.0.1:{port}/auth/token",
            "service": "dockyard-ui-test",
            "issuer": "dockyard",
        },
        "tokenserver": {
            "htpasswd": str(htpasswd),
            "rules": [
                {
                    "repositories": ["team/**", "public/**", "odd/**"],
                    "users": ["alice"],
                    "actions": ["*"],
                },
                {"repositories": "team/**", "users": ["bob"], "actions": ["pull"]},
                {
                    "repositories": "public/*",
                    "users": ["*"],
                    "anonymous": True,
                    "actions": ["pull"],
                },
                {"registry": "catalog", "users": ["alice"], "actions": ["*"]},
            ],
        },
    }
    return config


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_registry(workdir: Path, port: int, htpasswd: Path) -> ServerProcess:
    config = registry_config(workdir / "root", port, htpasswd)
    return dockyard_process(workdir, port, config, name="dockyard-ui").start()


def run_maintenance(workdir: Path) -> None:
    """``dockyard gc`` and ``dockyard scrub`` on the served root, as an operator runs them."""
    config = workdir / "dockyard-ui.yml"
    for command in ("gc", "scrub"):
        subprocess.run(
            [sys.executable, "-m", "dockyard.cli", command, str(config)],
            check=True,
            capture_output=True,
            timeout=60,
        )


def pushing_client(
    server: ServerProcess, user: str, password: str, names: list[str]
) -> httpx.Client:
    """A client holding a token to push to ``names``, from the server's token endpoint."""
    scopes = [f"repository:{name}:pull,push" for name in names]
    response = httpx.get(
        f"{server.url}/auth/token",
        params=[("service", "dockyard-ui-test"), *(("scope", s) for s in scopes)],
        auth=(user, password),
    )
    response.raise_for_status()
    token = response.json()["token"]
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})


def chromium() -> webdriver.Chrome:
    """Headless Debian Chromium through chromedriver; nothing downloaded, nothing phoned."""
    # Both binaries are named, so Selenium Manager has nothing to find; offline, it could
    # not download anything even if it tried.
    os.environ.setdefault("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='dockyard-chromium-')}")
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
