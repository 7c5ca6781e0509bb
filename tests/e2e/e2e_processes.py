"""Real server processes (``dockyard serve``, the reference ``docker-registry``) and the
real clients (skopeo) that the end-to-end tests drive."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

DOCKER_REGISTRY = "/usr/bin/docker-registry"


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without ``REGISTRY_*`` (which both servers read)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(extra)
    return env


class ServerProcess:
    """A registry server running as a child process, with its output kept in files."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        cwd: Path,
        env: dict[str, str],
        port: int,
        tls: ssl.SSLContext | None = None,
        workers: int = 0,
    ) -> None:
        self.name = name
        self.tls = tls
        #: granian workers to wait for: a worker signalled while it is still starting
        #: misses the signal, and granian then waits its kill timeout to stop it.
        self.workers = workers
        self.argv = argv
        self.cwd = cwd
        self.env = env
        self.port = port
        self.stdout_path = cwd / f"{name}.stdout.log"
        self.stderr_path = cwd / f"{name}.stderr.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        """``127.0.0.1:<port>``, as image references name the registry."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        """Start the server and wait until ``GET /v2/`` answers."""
        self.launch()
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.stderr()}"
                )
            try:
                verify = self.tls if self.tls is not None else True
                ready = httpx.get(f"{self.url}/v2/", timeout=2, verify=verify)
                if ready.status_code < 500 and self._workers_started():
                    return self
            except (httpx.TransportError, ssl.SSLError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {timeout}s:\n{self.stderr()}")

    def launch(self) -> None:
        """Start the server process without waiting for it."""
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            # A session of its own, so a stuck server and its workers can be ended together.
            self.process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    def _workers_started(self) -> bool:
        log = self.stderr()
        return all(f"Started worker-{n}" in log for n in range(1, self.workers + 1))

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, wait for a graceful exit; kill the process group if it hangs."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.process = None
        return process.returncode

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""


def dockyard_process(
    workdir: Path,
    port: int,
    config: dict[str, Any],
    *,
    env: dict[str, str] | None = None,
    name: str = "dockyard",
    tls: ssl.SSLContext | None = None,
) -> ServerProcess:
    """``dockyard serve <workdir>/<name>.yml`` with ``config``, not yet started."""
    path = workdir / f"{name}.yml"
    path.write_text(yaml.safe_dump(config))
    argv = [sys.executable, "-m", "dockyard.cli", "serve", str(path)]
    environment = clean_environment(**(env or {}))
    workers = int(config.get("http", {}).get("workers") or 0)
    return ServerProcess(
        name, argv, cwd=workdir, env=environment, port=port, tls=tls, workers=workers
    )


def dockyard_config(root: Path, port: int, *, workers: int = 1) -> dict[str, Any]:
    """A filesystem-backed dockyard on ``127.0.0.1:port`` with deletes enabled."""
    return {
        "version": 0.1,
        "log": {"level": "info"},
        "storage": {
            "filesystem": {"rootdirectory": str(root)},
            "delete": {"enabled": True},
        },
        "http": {"addr": f"127.0.0.1:{port}", "workers": workers},
    }


def reference_process(workdir: Path, port: int, root: Path) -> ServerProcess:
    """The reference registry (``docker-registry``) serving ``root``, not yet started."""
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(root)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": "reference-test-secret"},
    }
    path = workdir / "docker-registry.yml"
    path.write_text(yaml.safe_dump(config))
    return ServerProcess(
        "docker-registry",
        [DOCKER_REGISTRY, "serve", str(path)],
        cwd=workdir,
        env=clean_environment(),
        port=port,
    )


def have(program: str) -> bool:
    return shutil.which(program) is not None or Path(program).exists()


def skopeo(*args: str, timeout: float = 180.0) -> str:
    """Run skopeo against plain-HTTP registries; returns stdout, raises with stderr."""
    argv = ["skopeo", "--insecure-policy", *args]
    result = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} failed ({result.returncode}):\n"
            f"{result.stderr.decode(errors='replace')}"
        )
    return result.stdout.decode()


def copy(source: str, destination: str, *extra: str) -> str:
    """``skopeo copy`` with TLS verification off on both sides."""
    return skopeo(
        "copy", "--src-tls-verify=false", "--dest-tls-verify=false", *extra, source, destination
    )


#: What the ``start_dockyard`` and ``start_reference`` fixtures give a test.
StartDockyard = Callable[..., ServerProcess]
StartReference = Callable[[Path], ServerProcess]
