"""A real Redis server for tests: ``redis-server`` (Debian package) on a free loopback
port, with its files in a temporary folder and no persistence, so a restart is empty.

``RedisServer.kill()`` stops it the hard way (SIGKILL) to show what a cache does when
Redis dies; ``start()`` brings it back on the same port.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REDIS_SERVER = "/usr/bin/redis-server"
_START_TIMEOUT = 15.0


def redis_binary() -> str | None:
    """The ``redis-server`` executable, or None when it is not installed."""
    if Path(REDIS_SERVER).exists():
        return REDIS_SERVER
    return shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ping(port: int) -> bool:
    """Whether the server answers (a password-protected one answers with an error)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process that a test can kill and start again."""

    def __init__(self, workdir: Path, port: int, password: str | None = None) -> None:
        self.workdir = workdir
        self.port = port
        self.password = password
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def addr(self) -> str:
        """``127.0.0.1:<port>``, as ``redis.addr`` names it."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> RedisServer:
        binary = redis_binary()
        assert binary is not None
        log = (self.workdir / "redis.log").open("ab")
        with log:
            self.process = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(self.workdir),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    *(["--requirepass", self.password] if self.password else []),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + _START_TIMEOUT
        while not _ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("redis-server did not start:\n" + self.log_tail())
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        """SIGKILL the server, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.process.kill()
            self.process.wait()
        self.process = None

    def pause(self) -> None:
        """SIGSTOP the server: connections are accepted but never answered, as a hung
        or unreachable server behaves."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)

    def log_tail(self) -> str:
        path = self.workdir / "redis.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


@contextmanager
def start_redis(workdir: Path, password: str | None = None) -> Iterator[RedisServer]:
    """Run ``redis-server`` in ``workdir`` on a free port; kill it on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = RedisServer(workdir, _free_port(), password).start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh, empty Redis for one test."""
    if redis_binary() is None:
        pytest.fail(
            "redis-server (Debian package) is missing",
            pytrace=False,
        )
    with start_redis(tmp_path / "redis") as server:
        yield server
