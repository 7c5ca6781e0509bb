"""The web interface's speed figures (issue 15), measured against real ``dockyard serve``.

1. Server time of the repository page of a repository with 1,000 tags (sorted by name,
   the default, and by push time), and of the repository list of a registry with 10,000
   repositories (the first page, a later page, and a search), each as the p50 and p90 of
   sequential requests over one keep-alive connection (target: p50 under 50 ms); and, for
   information, a manifest page in that repository and the status page.
2. The API's manifest GET rate with the interface enabled and disabled, on the same
   storage, alternating runs, so that the interface is seen to cost the API nothing;
   and, less noisy on a shared machine, the time of one manifest GET through the whole
   app called in-process (no sockets), the best of several runs, on and off.

The registry is filled through dockyard's own storage services (``StorageRegistry`` over
the filesystem driver) before the servers start; by default in a folder on ``/dev/shm``,
so that filling 10,000 repositories takes seconds rather than minutes of fsyncs (the
pages read directory listings and small files, which the page cache serves either way).

Run with ``python -m bench.ui_figures [--repositories N] [--tags N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.loadgen import run_load
from bench.servers import free_port
from bench.stats import percentile
from dockyard.digest import Digest
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.registry import StorageRegistry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
BIG_REPOSITORY = "bench/many-tags"
TARGET_P50_MS = 50.0


@dataclass
class PageFigure:
    """Latencies of one page, requested ``requests`` times in a row."""

    page: str
    path: str
    requests: int
    p50_ms: float
    p90_ms: float
    bytes: int


@dataclass
class RateFigure:
    """Manifest GETs per second with the interface on or off (one run)."""

    ui_enabled: bool
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _image(seed: int) -> tuple[bytes, bytes, bytes]:
    """A config, a layer and the manifest of a small image, distinct per ``seed``."""
    layer = hashlib.sha512(b"layer%d" % seed).digest() * 16
    config = json.dumps(
        {
            "architecture": "amd64" if seed % 2 else "arm64",
            "os": "linux",
            "created": "2026-12-01T00:00:00Z",
            "config": {"Cmd": ["/bin/sh"], "Labels": {"seed": str(seed)}},
            "rootfs": {"type": "layers", "diff_ids": [_digest(layer)]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": _digest(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": _digest(layer), "size": len(layer)}],
        }
    ).encode()
    return config, layer, manifest


async def _push(registry: StorageRegistry, name: str, seed: int, tags: list[str]) -> None:
    repository = registry.repository(name)
    config, layer, manifest = _image(seed)
    await repository.blobs.put(config)
    await repository.blobs.put(layer)
    stored = await repository.manifests.put(manifest, OCI_MANIFEST)
    for tag in tags:
        await repository.tags.tag(tag, Digest.parse(str(stored.digest)))


async def fill(root: Path, repositories: int, tags: int) -> None:
    """``repositories`` repositories of one tag each, and one with ``tags`` tags."""
    registry = StorageRegistry(FilesystemDriver(root))
    started = time.perf_counter()
    batch = 200
    for first in range(0, repositories, batch):
        await asyncio.gather(
            *(
                _push(registry, f"team{n % 100:02d}/service{n:05d}", n % 50, ["latest"])
                for n in range(first, min(first + batch, repositories))
            )
        )
    for first in range(0, tags, batch):
        await asyncio.gather(
            *(
                _push(registry, BIG_REPOSITORY, n % 200, [f"v1.{n:04d}"])
                for n in range(first, min(first + batch, tags))
            )
        )
    await registry.driver.close()
    print(
        f"filled {repositories} repositories and {tags} tags in "
        f"{time.perf_counter() - started:.1f}s",
        file=sys.stderr,
    )


class Server:
    """``dockyard serve`` on ``root`` with the interface on or off."""

    def __init__(self, root: Path, workdir: Path, ui_enabled: bool) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(root)},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {"addr": f"127.0.0.1:{self.port}", "secret": "bench-ui"},
            "ui": {"enabled": ui_enabled},
        }
        self.config_path = workdir / f"ui-{ui_enabled}.yml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = workdir / f"ui-{ui_enabled}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dockyard.cli", "serve", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/v2/", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"dockyard did not start:\n{self.log_path.read_text()}")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)


def page_figure(client: httpx.Client, page: str, path: str, requests: int) -> PageFigure:
    """Latencies of ``requests`` sequential GETs of ``path`` (after two warm-ups)."""
    for _ in range(2):
        client.get(path).raise_for_status()
    latencies: list[float] = []
    size = 0
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        latencies.append(time.perf_counter() - started)
        response.raise_for_status()
        size = len(response.content)
    return PageFigure(
        page,
        path,
        requests,
        round(percentile(latencies, 50) * 1000, 2),
        round(percentile(latencies, 90) * 1000, 2),
        size,
    )


def page_figures(root: Path, workdir: Path, requests: int, tags: int) -> list[PageFigure]:
    with (
        Server(root, workdir, ui_enabled=True) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        second_page = client.get("/ui/").text.split('id="next-page" href="')[1].split('"')[0]
        return [
            page_figure(
                client, f"repository, {tags:,} tags, by name", f"/ui/r/{BIG_REPOSITORY}", requests
            ),
            page_figure(
                client,
                f"repository, {tags:,} tags, newest push first",
                f"/ui/r/{BIG_REPOSITORY}?sort=-pushed",
                requests,
            ),
            page_figure(client, "repository list, first page", "/ui/", requests),
            page_figure(
                client, "repository list, a later page", second_page.replace("&amp;", "&"), requests
            ),
            page_figure(
                client, "repository list, search matching 100", "/ui/?q=service000", requests
            ),
            page_figure(
                client,
                f"manifest, in the {tags:,}-tag repository",
                f"/ui/r/{BIG_REPOSITORY}/-/m/v1.{tags // 2:04d}",
                requests,
            ),
            # Not a target: it reads the whole catalog and every upload folder.
            page_figure(client, "status, whole registry", "/ui/status", min(requests, 5)),
        ]


def rate_figures(
    root: Path, workdir: Path, rounds: int, duration: float, connections: int
) -> list[RateFigure]:
    figures: list[RateFigure] = []
    target = "/v2/team00/service00000/manifests/latest"
    headers = {"Accept": OCI_MANIFEST}
    for _ in range(rounds):
        for enabled in (True, False):
            with Server(root, workdir, ui_enabled=enabled) as server:
                for seconds in (1.0, duration):  # a warm-up, then the measured run
                    result = run_load(
                        "127.0.0.1",
                        server.port,
                        "GET",
                        target,
                        headers,
                        connections=connections,
                        duration=seconds,
                    )
            figures.append(
                RateFigure(
                    enabled,
                    round(result.rps),
                    round(result.p(50) * 1000, 3),
                    round(result.p(99) * 1000, 3),
                    result.non_2xx,
                )
            )
    return figures


async def _in_process_get(root: Path, ui_enabled: bool, calls: int) -> float:
    """Microseconds one manifest GET takes through the whole app, called directly (no
    sockets, no granian): the best of five runs of ``calls`` calls."""
    from dockyard.assembly import build_app
    from dockyard.config import from_dict

    app = build_app(
        from_dict(
            {
                "storage": {"filesystem": {"rootdirectory": str(root)}},
                "http": {"secret": "bench-ui"},
                "ui": {"enabled": ui_enabled},
            },
            {},
        )
    )
    path = "/v2/team00/service00000/manifests/latest"
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"accept", OCI_MANIFEST.encode())],
        "scheme": "http",
        "http_version": "1.1",
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 5000),
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            await app(dict(scope), receive, send)
        best = min(best, (time.perf_counter() - started) / calls * 1e6)
    assert set(statuses) == {200}, set(statuses)
    return round(best, 2)


def in_process_figures(root: Path, rounds: int, calls: int = 10_000) -> dict[str, list[float]]:
    """``_in_process_get`` with the interface on and off, alternating."""
    figures: dict[str, list[float]] = {"enabled": [], "disabled": []}
    for _ in range(rounds):
        for enabled in (True, False):
            key = "enabled" if enabled else "disabled"
            figures[key].append(asyncio.run(_in_process_get(root, enabled, calls)))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ui_figures", description=__doc__)
    parser.add_argument("--repositories", type=int, default=10_000)
    parser.add_argument("--tags", type=int, default=1_000)
    parser.add_argument("--requests", type=int, default=50, help="requests per page figure")
    parser.add_argument("--rounds", type=int, default=2, help="manifest GET runs per mode")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per GET run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workdir", type=Path, default=Path("/dev/shm"))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    base = args.workdir if args.workdir.is_dir() else Path(tempfile.gettempdir())
    workdir = Path(tempfile.mkdtemp(prefix="dockyard-ui-bench-", dir=base))
    try:
        root = workdir / "root"
        asyncio.run(fill(root, args.repositories, args.tags))
        pages = page_figures(root, workdir, args.requests, args.tags)
        rates = rate_figures(root, workdir, args.rounds, args.duration, args.connections)
        in_process = in_process_figures(root, args.rounds + 1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    load = os.getloadavg()
    print(
        f"load average while measuring: {load[0]:.1f} (1 min), {load[1]:.1f} (5 min) "
        f"on {os.cpu_count()} cores"
    )
    for figure in pages:
        verdict = "ok" if figure.p50_ms < TARGET_P50_MS else "OVER TARGET"
        print(
            f"{figure.page:45} p50 {figure.p50_ms:7.2f} ms  p90 {figure.p90_ms:7.2f} ms  "
            f"{figure.bytes / 1024:6.1f} KiB  {verdict}"
        )
    for enabled in (True, False):
        runs = [r.requests_per_second for r in rates if r.ui_enabled is enabled]
        print(
            f"manifest GET, ui {'enabled ' if enabled else 'disabled'}: "
            f"{', '.join(f'{r:.0f}' for r in runs)} req/s"
        )
    for key, values in in_process.items():
        print(
            f"manifest GET in-process, ui {key:8}: best {min(values):.2f} µs "
            f"({', '.join(f'{v:.2f}' for v in values)})"
        )
    if args.json is not None:
        document: dict[str, Any] = {
            "repositories": args.repositories,
            "tags": args.tags,
            "pages": [asdict(f) for f in pages],
            "manifest_get": [asdict(r) for r in rates],
            "manifest_get_in_process_us": in_process,
            "load_average": load,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
