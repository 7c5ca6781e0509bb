"""Start a registry under test on a free loopback port with fresh storage, and stop it.

Both registries get the same configuration file, in the reference registry's
``config.yml`` shape, and the same ``REGISTRY_*`` environment overrides: filesystem
storage in a fresh folder, access logs off (and the log level at ``warn``, so neither
writes a line per request), deletes on, the in-memory blob descriptor cache that
Debian's default configuration enables, and no upload purging during the run.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from bench import procstats
from bench.http import Connection

REFERENCE_BINARY = "/usr/bin/docker-registry"

_CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: dockyard-bench-secret
"""


@dataclass
class ServerSpec:
    """How to start one registry: its name and argv; ``{config}`` marks the config path.

    Without a ``{config}`` placeholder the path is appended as the last argument.
    """

    name: str
    argv: list[str]

    def command(self, config: Path) -> list[str]:
        """The argv with the configuration path in place."""
        if any("{config}" in a for a in self.argv):
            return [a.replace("{config}", str(config)) for a in self.argv]
        return [*self.argv, str(config)]


def reference_spec() -> ServerSpec:
    """The Debian package's registry binary (distribution 2.8.2)."""
    return ServerSpec("reference", [REFERENCE_BINARY, "serve"])


def dockyard_spec(override: str | None, venv_bin: Path) -> ServerSpec:
    """``dockyard serve`` from the project's venv, or the ``--dockyard-cmd`` override."""
    if override:
        return ServerSpec("dockyard", shlex.split(override))
    return ServerSpec("dockyard", [str(venv_bin / "dockyard"), "serve"])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerError(RuntimeError):
    """A registry did not start, or died while being measured."""


class RunningServer:
    """A registry process started in its own session, stopped on exit."""

    def __init__(self, spec: ServerSpec, workdir: Path, start_timeout: float = 30.0) -> None:
        self.spec = spec
        self.workdir = workdir
        self.start_timeout = start_timeout
        self.host = "127.0.0.1"
        self.port = free_port()
        self.root = workdir / "storage"
        self.config_path = workdir / "config.yml"
        self.log_path = workdir / "server.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self._proc is not None
        return self._proc.pid

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{self.host}:{self.port}"

    def connect(self) -> Connection:
        """A new keep-alive client connection to this server."""
        return Connection(self.host, self.port)

    def start(self) -> None:
        """Write the configuration, start the process, and wait until ``/v2/`` answers."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(_CONFIG.format(root=self.root, port=self.port))
        env = dict(os.environ)
        env.update(
            REGISTRY_HTTP_ADDR=f"{self.host}:{self.port}",
            REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=str(self.root),
            REGISTRY_LOG_ACCESSLOG_DISABLED="true",
            REGISTRY_STORAGE_DELETE_ENABLED="true",
        )
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                self.spec.command(self.config_path),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.workdir,
                start_new_session=True,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with self.connect() as conn:
                    if conn.request("GET", "/v2/").status in (200, 401):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise ServerError(f"{self.spec.name} did not answer /v2/ within {self.start_timeout}s")

    def check_alive(self) -> None:
        """Raise ServerError (with the log's tail) if the process has exited."""
        assert self._proc is not None
        code = self._proc.poll()
        if code is not None:
            raise ServerError(f"{self.spec.name} exited with {code}: {self.log_tail()}")

    def log_tail(self, chars: int = 1500) -> str:
        """The last characters the server wrote to its log."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def usage(self) -> procstats.ProcessUsage:
        """Peak RSS and CPU seconds of the server and its children so far."""
        return procstats.usage(self.pid)

    def stop(self) -> None:
        """SIGTERM the server's process group, then SIGKILL whatever of it lingers."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
        # Workers the server forked share its process group; none may outlive the run.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def __enter__(self) -> RunningServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
