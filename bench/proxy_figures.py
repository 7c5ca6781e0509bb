"""Pull a large layer through dockyard as a mirror: cold, warm, against the upstream.

Starts the reference registry (Debian's ``docker-registry``) as the upstream and pushes
one layer of ``--size`` bytes (256 MiB by default) to it, then starts ``dockyard serve``
with ``proxy.remoteurl`` pointing at it and measures, each pull streamed and its digest
checked:

1. ``upstream``: the layer pulled from the upstream directly;
2. ``cold``: the first pull through the mirror (fetched, stored and verified while it
   is sent);
3. ``warm``: the same pull again, from the mirror's storage;
4. ``push`` and ``local``: the layer pushed to a plain dockyard and pulled from it, for
   reference (a cold pull writes the layer as a push does).

Each pull reports the CPU seconds of the serving registry's processes and of the client
(this process): on a machine whose cores they share, their sum bounds the throughput.

The issue asks for ``cold`` at 0.8 of ``upstream`` or better and ``warm`` at the speed of
``local``. Each cold pull is paired with an upstream pull taken just before it, and the
ratios are computed per pair. ``--runs N`` repeats everything N times and reports
medians and the spread; ``--dockyard-cmd 'CMD {config}'`` measures another build in the
same runs, in turns (``python -m bench.proxy_figures --runs 3 --dockyard-cmd
'/work/baseline/.venv/bin/dockyard serve {config}'``).
Run ``python -m bench.proxy_figures [--size BYTES] [--runs N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

MiB = 1 << 20
_BLOCK = 4 * MiB
_NAME = "bench/mirror"


@dataclass
class Pull:
    """One measured pull (or push) of one build in one run."""

    name: str
    seconds: float
    bytes: int
    build: str = "this"
    run: int = 0
    #: CPU seconds the serving registry's processes spent on it (0 when not measured).
    cpu: float = 0.0
    #: CPU seconds the pulling client (this process: reading and hashing) spent on it.
    client_cpu: float = 0.0

    @property
    def mib_per_second(self) -> float:
        return self.bytes / MiB / self.seconds if self.seconds else 0.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cpu_seconds(pid: int) -> float:
    """CPU seconds (user and system) spent so far by ``pid`` and every process below it."""
    parents: dict[int, int] = {}
    spent: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        spent[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    total = 0.0
    for candidate, seconds in spent.items():
        ancestor: int | None = candidate
        while ancestor is not None and ancestor != pid:
            ancestor = parents.get(ancestor)
        if ancestor == pid:
            total += seconds
    return total


@dataclass
class Server:
    """A registry process the bench started: its base URL and process id."""

    url: str
    pid: int


@contextmanager
def _server(argv: list[str], config: dict[str, Any], workdir: Path, name: str) -> Iterator[Server]:
    """Run a registry with ``config`` until the block ends; yields its URL and pid.

    ``argv`` gets the configuration's path appended, or put in place of ``{config}``.
    """
    port = _free_port()
    config["http"]["addr"] = f"127.0.0.1:{port}"
    path = workdir / f"{name}.yml"
    path.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env["REGISTRY_HTTP_SECRET"] = secrets.token_hex(16)
    if "{config}" in argv:
        argv = [str(path) if arg == "{config}" else arg for arg in argv]
    else:
        argv = [*argv, str(path)]
    with (workdir / f"{name}.log").open("wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=log, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/v2/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"{name} did not start; see {workdir}") from None
                time.sleep(0.1)
        yield Server(url, process.pid)
    finally:
        process.terminate()
        process.wait(20)


def _config(root: Path) -> dict[str, Any]:
    return {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(root)}},
        "http": {},
    }


def _push(url: str, size: int, blocks: list[bytes]) -> str:
    """Push ``size`` bytes cycling through ``blocks`` as one streamed upload; returns the
    digest."""
    hasher = hashlib.sha256()

    def body() -> Iterator[bytes]:
        sent = 0
        while sent < size:
            block = blocks[(sent // _BLOCK) % len(blocks)][: size - sent]
            hasher.update(block)
            sent += len(block)
            yield block

    with httpx.Client(timeout=600) as client:
        start = client.post(f"{url}/v2/{_NAME}/blobs/uploads/")
        location = httpx.URL(url).join(start.headers["location"])
        patched = client.patch(location, content=body())
        digest = "sha256:" + hasher.hexdigest()
        patched.raise_for_status()
        final = str(httpx.URL(url).join(patched.headers["location"]))
        separator = "&" if "?" in final else "?"
        done = client.put(f"{final}{separator}digest={digest}")
        done.raise_for_status()
    return digest


def _pull(name: str, server: Server, digest: str, build: str = "this", run: int = 0) -> Pull:
    """Pull the layer from ``server``, checking its digest; with the server's CPU time."""
    url = server.url
    hasher = hashlib.sha256()
    size = 0
    cpu_before = _cpu_seconds(server.pid)
    client_before = time.process_time()
    started = time.perf_counter()
    with (
        httpx.Client(timeout=600) as client,
        client.stream("GET", f"{url}/v2/{_NAME}/blobs/{digest}") as response,
    ):
        response.raise_for_status()
        for chunk in response.iter_bytes(_BLOCK):
            hasher.update(chunk)
            size += len(chunk)
    seconds = time.perf_counter() - started
    client_cpu = time.process_time() - client_before
    cpu = _cpu_seconds(server.pid) - cpu_before
    if "sha256:" + hasher.hexdigest() != digest:
        raise RuntimeError(f"{name}: the pulled bytes do not match {digest}")
    return Pull(name, seconds, size, build, run, cpu, client_cpu)


def measure(size: int, runs: int = 1, builds: dict[str, list[str]] | None = None) -> list[Pull]:
    """Every pull of every run, each build's turn rotated from run to run."""
    builds = builds or {"this": [sys.executable, "-m", "dockyard.cli", "serve"]}
    blocks = [os.urandom(_BLOCK) for _ in range(4)]
    pulls: list[Pull] = []
    with tempfile.TemporaryDirectory(prefix="dockyard-proxy-bench-") as folder:
        work = Path(folder)
        with _server(
            ["docker-registry", "serve"], _config(work / "upstream"), work, "upstream"
        ) as upstream:
            digest = _push(upstream.url, size, blocks)
            for run in range(runs):
                names = list(builds)
                turn = names[run % len(names) :] + names[: run % len(names)]
                for build in turn:
                    pulls += _measure_build(
                        work, upstream, digest, size, blocks, build, run, builds[build]
                    )
    return pulls


def _measure_build(
    work: Path,
    upstream: Server,
    digest: str,
    size: int,
    blocks: list[bytes],
    build: str,
    run: int,
    argv: list[str],
) -> list[Pull]:
    """One build's pulls of one run, each registry on a fresh root."""
    pulls = [_pull("upstream", upstream, digest, build, run)]
    mirror_config = _config(work / f"mirror-{build}-{run}")
    mirror_config["proxy"] = {"remoteurl": upstream.url}
    with _server(argv, mirror_config, work, f"mirror-{build}-{run}") as mirror:
        pulls.append(_pull("cold", mirror, digest, build, run))
        pulls.append(_pull("warm", mirror, digest, build, run))
    with _server(argv, _config(work / f"local-{build}-{run}"), work, f"local-{build}") as local:
        started = time.perf_counter()
        _push(local.url, size, blocks)
        pulls.append(Pull("push", time.perf_counter() - started, size, build, run))
        pulls.append(_pull("local", local, digest, build, run))
    return pulls


def ratios(pulls: list[Pull]) -> dict[str, dict[str, list[float]]]:
    """Per build, ``cold / upstream`` and ``warm / local`` of every run."""
    found: dict[str, dict[str, list[float]]] = {}
    keyed = {(p.build, p.run, p.name): p.mib_per_second for p in pulls}
    for build, run in sorted({(p.build, p.run) for p in pulls}):
        entry = found.setdefault(build, {"cold_over_upstream": [], "warm_over_local": []})
        entry["cold_over_upstream"].append(
            keyed[build, run, "cold"] / keyed[build, run, "upstream"]
        )
        entry["warm_over_local"].append(keyed[build, run, "warm"] / keyed[build, run, "local"])
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256 * MiB, help="layer size in bytes")
    parser.add_argument("--runs", type=int, default=1, help="repeat everything this often")
    parser.add_argument(
        "--dockyard-cmd",
        help="another build measured in the same runs, in turns: 'CMD {config}'",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    builds = {"this": [sys.executable, "-m", "dockyard.cli", "serve"]}
    if args.dockyard_cmd:
        builds["other"] = shlex.split(args.dockyard_cmd)
    pulls = measure(args.size, args.runs, builds)
    for pull in pulls:
        print(
            f"run {pull.run} {pull.build:5} {pull.name:9} {pull.mib_per_second:8.1f} MiB/s"
            f"  ({pull.seconds:.2f} s, {pull.cpu:.2f} CPU-s, client {pull.client_cpu:.2f})"
        )
    found = ratios(pulls)
    for build, figures in found.items():
        cold, warm = figures["cold_over_upstream"], figures["warm_over_local"]
        print(
            f"{build}: cold / upstream median {statistics.median(cold):.2f} "
            f"({min(cold):.2f}-{max(cold):.2f}; issue: >= 0.8)   "
            f"warm / local median {statistics.median(warm):.2f} "
            f"({min(warm):.2f}-{max(warm):.2f})"
        )
        cold_cpu = [p.cpu for p in pulls if p.build == build and p.name == "cold"]
        print(
            f"{build}: CPU-s of a cold pull median {statistics.median(cold_cpu):.2f} "
            f"({min(cold_cpu):.2f}-{max(cold_cpu):.2f})"
        )
    if args.json:
        figures_json = {
            "pulls": [asdict(p) | {"mib_per_second": p.mib_per_second} for p in pulls],
            "ratios": found,
        }
        args.json.write_text(json.dumps(figures_json, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
