"""Real processes and a plain HTTP client for the operations tests."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from e2e_processes import ServerProcess

SINK = Path(__file__).with_name("webhook_sink.py")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Image:
    """A small OCI image: one layer, a config, the manifest."""

    layer: bytes
    config: bytes
    manifest: bytes

    @classmethod
    def random(cls) -> Image:
        layer = os.urandom(64)
        config = json.dumps({"architecture": "amd64", "os": "linux", "n": os.urandom(4).hex()})
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": digest_of(config.encode()),
                "size": len(config),
            },
            "layers": [{"mediaType": OCI_LAYER, "digest": digest_of(layer), "size": len(layer)}],
        }
        return cls(layer, config.encode(), json.dumps(manifest).encode())

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)


def push_blob(client: httpx.Client, repository: str, data: bytes) -> None:
    started = client.post(f"/v2/{repository}/blobs/uploads/")
    assert started.status_code == 202, started.text
    location = started.headers["location"]
    separator = "&" if "?" in location else "?"
    done = client.put(f"{location}{separator}digest={digest_of(data)}", content=data)
    assert done.status_code == 201, done.text


def push_image(client: httpx.Client, repository: str, tag: str, image: Image) -> None:
    """Push as a client does: the blobs, then the manifest under ``tag``."""
    push_blob(client, repository, image.layer)
    push_blob(client, repository, image.config)
    response = client.put(
        f"/v2/{repository}/manifests/{tag}",
        content=image.manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201, response.text


@dataclass
class Dockyard:
    """A running ``dockyard serve`` and its debug listener's URL."""

    process: ServerProcess
    debug_url: str

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def pid(self) -> int:
        assert self.process.process is not None
        return self.process.process.pid

    def kill(self) -> None:
        """SIGKILL, as a crash: nothing gets to clean up."""
        assert self.process.process is not None
        os.killpg(self.process.process.pid, signal.SIGKILL)
        self.process.process.wait()
        self.process.process = None


def endpoint(sink: Sink, **options: Any) -> dict[str, Any]:
    """A ``notifications`` section with one endpoint, ``sink``, posting to ``sink``."""
    return {
        "notifications": {
            "events": {"includereferences": True},
            "endpoints": [
                {
                    "name": "sink",
                    "url": sink.url,
                    "timeout": "2s",
                    "threshold": 1,
                    "backoff": "50ms",
                    **options,
                }
            ],
        }
    }


class Sink:
    """The webhook receiver process (``webhook_sink.py``) on ``port``."""

    def __init__(self, port: int, output: Path) -> None:
        self.port = port
        self.output = output
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    def start(self, status: int = 200) -> Sink:
        self.process = subprocess.Popen(
            [sys.executable, str(SINK), str(self.port), str(self.output), str(status)],
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == b"listening"
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)
            self.process = None

    def records(self) -> list[dict[str, Any]]:
        """Every request received: ``{"headers": …, "body": …}``."""
        if not self.output.exists():
            return []
        return [json.loads(line) for line in self.output.read_text().splitlines() if line]

    def events(self) -> list[dict[str, Any]]:
        """Every event received, in arrival order (repeats included)."""
        return [event for record in self.records() for event in record["body"]["events"]]


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def scrape(url: str) -> dict[str, float]:
    """A Prometheus text exposition as ``{'name{labels}': value}``."""
    text = httpx.get(url, timeout=10).text
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key] = float(value)
    return samples


#: The ``start_dockyard`` fixture: starts ``dockyard serve`` with extra configuration.
StartDockyard = Callable[..., Dockyard]
