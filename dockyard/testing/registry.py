"""A real dockyard registry for other projects' tests: ``dockyard serve`` in a subprocess.

``Registry`` writes a configuration, starts ``python -m dockyard serve`` on a free
127.0.0.1 port, waits until ``/v2/`` answers and stops the process (SIGTERM, then
SIGKILL) when the ``with`` block ends. A subprocess rather than a thread: the registry
runs exactly as it does in production (its own event loop, signal handling and
workers), cannot block or be blocked by the test's own event loop, and leaves nothing
behind in the test process.
"""

from __future__ import annotations

import atexit
import copy
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal

from dockyard.testing.client import PushedManifest, RegistryClient

Storage = Literal["memory", "filesystem"]
Auth = Literal["htpasswd", "token"]

#: Credentials of the one user created when auth is asked for without ``users``.
DEFAULT_USERS: Final = {"tester": "tester-password"}
#: How many fresh ports to try when another process takes the chosen one first.
_PORT_ATTEMPTS: Final = 5

_running: set[Registry] = set()


class RegistryStartError(RuntimeError):
    """``dockyard serve`` exited or did not answer in time; the message holds its output."""


class Registry:
    """A dockyard registry in a subprocess, for tests; use it as a context manager.

    ``storage`` is ``"memory"`` (default) or ``"filesystem"`` (in ``directory``, else in a
    temporary folder removed at the end). ``auth`` is None (anyone may do anything),
    ``"htpasswd"`` (HTTP Basic) or ``"token"`` (bearer tokens from the registry's own
    token server at ``/auth/token``); both check ``users`` (name: password, default
    ``DEFAULT_USERS``), and every user may pull, push and delete everywhere. ``config``
    is merged over the generated configuration (any key ``dockyard serve`` reads).
    """

    def __init__(
        self,
        *,
        storage: Storage = "memory",
        directory: str | os.PathLike[str] | None = None,
        auth: Auth | None = None,
        users: Mapping[str, str] | None = None,
        delete: bool = True,
        config: Mapping[str, Any] | None = None,
        python: str = sys.executable,
        startup_timeout: float = 30.0,
    ) -> None:
        if storage not in ("memory", "filesystem"):
            raise ValueError(f"storage must be 'memory' or 'filesystem', not {storage!r}")
        if auth not in (None, "htpasswd", "token"):
            raise ValueError(f"auth must be None, 'htpasswd' or 'token', not {auth!r}")
        self.storage: Storage = storage
        self.auth: Auth | None = auth
        self.users: dict[str, str] = dict(users or DEFAULT_USERS) if auth else {}
        self.delete = delete
        self.python = python
        self.startup_timeout = startup_timeout
        self._directory = Path(directory) if directory is not None else None
        self._extra_config = copy.deepcopy(dict(config or {}))
        self._workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.port = 0

    # --- what tests use -------------------------------------------------------------------

    @property
    def host(self) -> str:
        """``127.0.0.1:<port>``, as image references name the registry."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{self.host}"

    @property
    def username(self) -> str | None:
        """The first user's name (None without auth)."""
        return next(iter(self.users), None)

    @property
    def password(self) -> str | None:
        """The first user's password (None without auth)."""
        return self.users[self.username] if self.username is not None else None

    @property
    def root(self) -> Path | None:
        """The storage root folder (filesystem storage), in the reference registry's layout."""
        if self.storage != "filesystem":
            return None
        return self._directory or self._work() / "storage"

    def client(
        self,
        username: str | None = None,
        password: str | None = None,
        *,
        anonymous: bool = False,
    ) -> RegistryClient:
        """A client of this registry: as ``username``, anonymous, or else as the first user."""
        if anonymous:
            return RegistryClient(self.url)
        if username is None:
            username, password = self.username, self.password
        return RegistryClient(self.url, username, password)

    def push_blob(self, repository: str, data: bytes) -> str:
        """Push a blob as the first user; returns its digest."""
        return self.client().push_blob(repository, data)

    def push_manifest(
        self, repository: str, reference: str, content: bytes | Mapping[str, Any]
    ) -> str:
        """Push a manifest (its blobs must be there already); returns its digest."""
        return self.client().push_manifest(repository, reference, content)

    def push_image(
        self, repository: str, tag: str | None = "latest", **options: Any
    ) -> PushedManifest:
        """Push an OCI image (see ``RegistryClient.push_image``)."""
        return self.client().push_image(repository, tag, **options)

    def push_index(
        self,
        repository: str,
        tag: str | None,
        manifests: Sequence[PushedManifest],
        **options: Any,
    ) -> PushedManifest:
        """Push an OCI index of pushed images."""
        return self.client().push_index(repository, tag, manifests, **options)

    def logs(self) -> str:
        """What the server wrote so far (its log and access log)."""
        if self._workdir is None:
            return ""
        parts = []
        for name in ("stderr.log", "stdout.log"):
            path = self._workdir / name
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "".join(parts)

    # --- life cycle -----------------------------------------------------------------------

    def start(self) -> Registry:
        """Start the server and wait until it answers; returns ``self``."""
        if self._process is not None:
            raise RuntimeError("the registry is already running")
        if self.root is not None:
            self.root.mkdir(parents=True, exist_ok=True)
        for attempt in range(_PORT_ATTEMPTS):
            self.port = _free_port()
            self._write_config()
            self._process = self._launch()
            _running.add(self)
            if self._wait_until_ready():
                return self
            output = self.logs()
            self._kill()
            if "in use" not in output or attempt == _PORT_ATTEMPTS - 1:
                self._remove_workdir()
                raise RegistryStartError(f"dockyard serve did not start:\n{output}")
        raise AssertionError("unreachable")

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout``); returns its status."""
        status = self._kill(timeout)
        self._remove_workdir()
        return status

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- internals ------------------------------------------------------------------------

    def _work(self) -> Path:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="dockyard-testing-"))
        return self._workdir

    def _configuration(self) -> dict[str, Any]:
        storage: dict[str, Any] = (
            {"inmemory": {}}
            if self.storage == "memory"
            else {"filesystem": {"rootdirectory": str(self.root)}}
        )
        storage["delete"] = {"enabled": self.delete}
        storage["maintenance"] = {"uploadpurging": {"enabled": False}}
        config: dict[str, Any] = {
            "version": "0.1",
            "log": {"level": "warn", "accesslog": {"disabled": False}},
            "storage": storage,
            "http": {"addr": self.host, "secret": secrets.token_hex(32)},
        }
        if self.auth is not None:
            config["auth"] = self._auth_section()
        return _merged(config, self._extra_config)

    def _auth_section(self) -> dict[str, Any]:
        htpasswd = self._work() / "htpasswd"
        htpasswd.write_text(_htpasswd(self.users))
        if self.auth == "htpasswd":
            return {"htpasswd": {"realm": "dockyard-testing", "path": str(htpasswd)}}
        return {
            "token": {
                "realm": f"{self.url}/auth/token",
                "service": self.host,
                "issuer": "dockyard-testing",
            },
            "tokenserver": {
                "htpasswd": str(htpasswd),
                "rules": [
                    {"repositories": "**", "users": ["*"], "actions": ["pull", "push", "delete"]},
                    {"registry": "catalog", "users": ["*"], "actions": ["*"]},
                ],
            },
        }

    def _write_config(self) -> Path:
        path = self._work() / "config.yml"
        # JSON is YAML: no YAML library needed here.
        path.write_text(json.dumps(self._configuration(), indent=2))
        return path

    def _launch(self) -> subprocess.Popen[bytes]:
        workdir = self._work()
        environment = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        with (workdir / "stdout.log").open("ab") as out, (workdir / "stderr.log").open("ab") as err:
            return subprocess.Popen(
                [self.python, "-m", "dockyard", "serve", str(workdir / "config.yml")],
                cwd=workdir,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    def _wait_until_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/v2/", timeout=2):  # noqa: S310
                    return True
            except urllib.error.HTTPError as error:
                error.close()
                return error.code == 401
            except OSError:
                time.sleep(0.02)
        return False

    def _kill(self, timeout: float = 10.0) -> int | None:
        process, self._process = self._process, None
        _running.discard(self)
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        return process.returncode

    def _remove_workdir(self) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _htpasswd(users: Mapping[str, str]) -> str:
    import bcrypt  # a dockyard dependency; loaded only when a test asks for auth

    # Cost 4, bcrypt's least: tests check passwords often and need no protection from it.
    return "".join(
        f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()}\n"
        for user, password in users.items()
    )


def _merged(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@atexit.register
def _stop_leftovers() -> None:
    for registry in list(_running):
        registry.stop()
