"""Start a registry under test on a free loopback port with fresh storage, and stop it.

Both registries get the same configuration file, in the reference registry's
``config.yml`` shape, and the same ``REGISTRY_*`` environment overrides: filesystem
storage in a fresh folder (or S3, every server on the same bucket with the same
settings, each below a root of its own), access logs off (and the log level at
``warn``, so neither writes a line per request), deletes on, the in-memory blob
descriptor cache that Debian's default configuration enables, no upload purging during
the run, and redirects to the storage backend on or off as asked.

The reference registry is distribution 3.1.1 by default (``registry-v3.1.1`` from
``../shared/reference/``, beside the checkout), Debian's ``docker-registry`` (2.8.2)
for the history table, or any command given with ``--reference-cmd``. Both releases
read the same configuration; 3.1.1's S3 driver refuses to start when ``AWS_CA_BUNDLE``
is set, so that variable is removed from its environment (and from that of a
``--reference-cmd`` build, which is likely a 3.x one), and from no other.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from bench import procstats
from bench.http import Connection

DEBIAN_REFERENCE = "/usr/bin/docker-registry"
REFERENCE_3_1_1 = "registry-v3.1.1"
#: The reference releases ``--reference`` knows, newest (the default) first.
REFERENCES: Final = ("3.1.1", "2.8.2")
_REPO_ROOT = Path(__file__).resolve().parent.parent
#: Variables with which the S3 driver of distribution 3.x fails to start.
_GO_S3_FAULTS: Final = ("AWS_CA_BUNDLE",)

_CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
{driver}
  delete:
    enabled: true
  redirect:
    disable: {redirect_disable}
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: dockyard-bench-secret
"""


@dataclass(frozen=True)
class Storage:
    """Where the servers under test keep their data.

    ``s3`` holds the ``storage.s3`` parameters every server shares; each server's
    ``rootdirectory`` is set below it. None means filesystem storage in the server's
    own folder. ``redirect`` lets blob GETs and HEADs answer 307 to the backend.
    """

    s3: dict[str, Any] | None = None
    redirect: bool = False

    def driver_section(self, root: Path, name: str) -> str:
        """The driver's lines of the ``storage`` section, indented under it."""
        if self.s3 is None:
            return f"  filesystem:\n    rootdirectory: {root}"
        params = {**self.s3, "rootdirectory": f"/bench-{name}"}
        return "  s3:\n" + "\n".join(f"    {k}: {json.dumps(v)}" for k, v in params.items())


@dataclass
class ServerSpec:
    """How to start one registry: its name and argv; ``{config}`` marks the config path.

    Without a ``{config}`` placeholder the path is appended as the last argument.
    """

    name: str
    argv: list[str]
    #: Environment variables removed from the server's environment.
    unset_env: tuple[str, ...] = ()

    def command(self, config: Path) -> list[str]:
        """The argv with the configuration path in place."""
        if any("{config}" in a for a in self.argv):
            return [a.replace("{config}", str(config)) for a in self.argv]
        return [*self.argv, str(config)]


def shared_reference_dirs(checkout: Path = _REPO_ROOT) -> list[Path]:
    """Where ``shared/reference/`` may be: beside ``checkout``, or beside the main one.

    CI clones the project into a folder and puts ``shared/`` beside it; a git worktree
    elsewhere finds it beside the checkout that holds the repository's ``.git``.
    """
    dirs = [checkout.parent / "shared" / "reference"]
    common = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--path-format=absolute", "--git-common-dir"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if common:
        main_checkout = Path(common).parent
        dirs.append(main_checkout.parent / "shared" / "reference")
    return dirs


def find_reference_3_1_1(checkout: Path = _REPO_ROOT) -> Path | None:
    """The ``registry-v3.1.1`` wrapper, if a ``shared/reference/`` beside us has it."""
    for folder in shared_reference_dirs(checkout):
        candidate = folder / REFERENCE_3_1_1
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def reference_spec(release: str, command: str | None = None) -> ServerSpec:
    """The reference registry of ``release`` (3.1.1 or 2.8.2), or ``command`` when given.

    Raises ServerError if 3.1.1 is asked for and no ``shared/reference/`` has it.
    """
    if command:
        return ServerSpec("reference", shlex.split(command), unset_env=_GO_S3_FAULTS)
    if release == "2.8.2":
        return ServerSpec("reference", [DEBIAN_REFERENCE, "serve"])
    if release != "3.1.1":
        raise ValueError(f"unknown reference release {release!r}; known: {', '.join(REFERENCES)}")
    binary = find_reference_3_1_1()
    if binary is None:
        looked = ", ".join(str(d) for d in shared_reference_dirs())
        raise ServerError(f"distribution 3.1.1 not found: no {REFERENCE_3_1_1} in {looked}")
    return ServerSpec("reference", [str(binary), "serve"], unset_env=_GO_S3_FAULTS)


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

    def __init__(
        self,
        spec: ServerSpec,
        workdir: Path,
        start_timeout: float = 30.0,
        storage: Storage | None = None,
    ) -> None:
        self.spec = spec
        self.storage = storage or Storage()
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
        self.config_path.write_text(
            _CONFIG.format(
                driver=self.storage.driver_section(self.root, self.spec.name),
                redirect_disable=json.dumps(not self.storage.redirect),
                port=self.port,
            )
        )
        env = {k: v for k, v in os.environ.items() if k not in self.spec.unset_env}
        env.update(
            REGISTRY_HTTP_ADDR=f"{self.host}:{self.port}",
            REGISTRY_LOG_ACCESSLOG_DISABLED="true",
            REGISTRY_STORAGE_DELETE_ENABLED="true",
        )
        if self.storage.s3 is None:
            env["REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY"] = str(self.root)
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
