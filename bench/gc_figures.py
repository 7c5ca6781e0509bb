"""Garbage collection beside the reference: time and peak RSS on copies of one root.

Builds a filesystem root of ``--repositories`` repositories holding ``--blobs`` blobs in
all (images of a config and layers; every other image's tag deleted, so half the content
is garbage), copies it, and collects each copy once with ``--delete-untagged``: dockyard
(``dockyard gc``) and distribution 3.1.1 (``registry garbage-collect``). Prints a
Markdown table; ``--json`` writes the figures as JSON.

    python -m bench.gc_figures                          # 1,000 repositories, 20,000 blobs
    python -m bench.gc_figures --repositories 100 --blobs 2000
    python -m bench.gc_figures --storage s3             # on a SeaweedFS started here
    python -m bench.gc_figures --storage s3 --repeat 3 \
        --dockyard-cmd '/work/main/.venv/bin/dockyard gc {config} --delete-untagged --grace 0s'

``--dockyard-cmd`` adds another build's collector (``{config}`` is replaced by the
configuration file); ``--repeat`` runs every collector that many times, in turns, and
adds the median and the spread.

On S3 each collector gets its own root in one bucket, built the same way (the content
differs, the shape does not); 3.1.1 reads the same bucket settings from its environment.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from dockyard.digest import Digest
from dockyard.manifest.base import OCI_MANIFEST
from dockyard.storage import paths
from dockyard.storage.driver import create_driver
from dockyard.storage.driver.base import StorageDriver
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.registry import StorageRegistry

REPO_ROOT = Path(__file__).resolve().parents[1]


def _reference() -> Path:
    """distribution 3.1.1's wrapper: ``$DOCKYARD_REFERENCE_V3``, else ``shared/reference/``
    beside a parent folder of this checkout."""
    configured = os.environ.get("DOCKYARD_REFERENCE_V3")
    if configured:
        return Path(configured)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared/reference/registry-v3.1.1"
        if candidate.exists():
            return candidate
    raise SystemExit("distribution 3.1.1 not found; set DOCKYARD_REFERENCE_V3")


REFERENCE = _reference()
LAYERS_PER_IMAGE = 3


@dataclass
class Figure:
    """One collector's run over one copy of the root."""

    collector: str
    seconds: float
    peak_rss_mib: float
    blobs_before: int
    blobs_after: int


async def build(root: Path, repositories: int, blobs: int) -> None:
    """``repositories`` repositories of images (config + layers), every other one untagged."""
    await build_on(FilesystemDriver(root), repositories, blobs)


async def build_on(driver: StorageDriver, repositories: int, blobs: int) -> None:
    """``build`` on any driver (closed afterwards)."""
    registry = StorageRegistry(driver)
    per_image = LAYERS_PER_IMAGE + 2  # layers, config, manifest
    images = max(1, blobs // per_image)
    gate = asyncio.Semaphore(16)

    async def image(number: int) -> None:
        async with gate:
            repo = registry.repository(f"bench/r{number % repositories:04d}")
            config = await repo.blobs.put(f'{{"image":{number}}}'.encode())
            layers = [
                await repo.blobs.put(f"layer {number}.{i} ".encode() + os.urandom(512))
                for i in range(LAYERS_PER_IMAGE)
            ]
            body = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": {
                        **config.to_json(),
                        "mediaType": "application/vnd.oci.image.config.v1+json",
                    },
                    "layers": [layer.to_json() for layer in layers],
                }
            ).encode()
            await repo.manifests.put(body, OCI_MANIFEST)
            if number % 2 == 0:
                await repo.tags.tag(f"v{number}", Digest.of(body))

    await asyncio.gather(*(image(n) for n in range(images)))
    await driver.close()


def count_blobs(root: Path) -> int:
    return sum(1 for _ in (root / "docker/registry/v2/blobs").glob("*/*/*/data"))


async def count_stored_blobs(driver: StorageDriver) -> int:
    """Blobs in a root on any driver (closed afterwards)."""
    try:
        found = [
            info
            async for info in driver.walk(paths.BLOBS)
            if not info.is_dir and info.path.endswith("/data")
        ]
        return len(found)
    finally:
        await driver.close()


def run_measured(
    argv: list[str], cwd: Path, env: dict[str, str] | None = None
) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one process."""
    started = time.monotonic()
    process = subprocess.Popen(
        argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(
            f"{argv[0]} failed: {process.stderr.read().decode() if process.stderr else ''}"
        )
    return seconds, usage.ru_maxrss / 1024


def config_file(workdir: Path, root: Path, name: str, s3: dict[str, Any] | None = None) -> Path:
    path = workdir / f"{name}.yml"
    storage = {"s3": s3} if s3 is not None else {"filesystem": {"rootdirectory": str(root)}}
    path.write_text(
        yaml.safe_dump(
            {
                "version": 0.1,
                "log": {"level": "error"},
                "http": {"secret": "bench"},
                "storage": storage,
            }
        )
    )
    return path


def _runs(other: str | None = None) -> dict[str, Callable[[Path], list[str]]]:
    runs: dict[str, Callable[[Path], list[str]]] = {
        "dockyard": lambda config: [
            sys.executable,
            "-m",
            "dockyard.cli",
            "gc",
            str(config),
            "--delete-untagged",
            "--grace",
            "0s",
        ],
        "distribution 3.1.1": lambda config: [
            str(REFERENCE),
            "garbage-collect",
            "--delete-untagged",
            str(config),
        ],
    }
    if other is not None:
        runs["dockyard (--dockyard-cmd)"] = lambda config: shlex.split(
            other.replace("{config}", str(config))
        )
    return runs


def measure(
    workdir: Path, repositories: int, blobs: int, other: str | None, turn: int
) -> list[Figure]:
    source = workdir / "source"
    if not source.exists():
        asyncio.run(build(source, repositories, blobs))
    figures: list[Figure] = []
    for name, argv in _runs(other).items():
        root = workdir / _slug(f"{name}-{turn}")
        shutil.copytree(source, root)
        before = count_blobs(root)
        seconds, rss = run_measured(argv(config_file(workdir, root, root.name)), workdir)
        figures.append(Figure(name, round(seconds, 2), round(rss, 1), before, count_blobs(root)))
    return figures


@contextlib.contextmanager
def _seaweedfs(workdir: Path) -> Iterator[Any]:
    """The tests' own SeaweedFS, started for the run."""
    sys.path.insert(0, str(REPO_ROOT))
    from tests.s3_server import start_seaweedfs

    with start_seaweedfs(workdir / "s3") as server:
        yield server


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in ".-" else "-" for c in name)


def measure_s3(
    workdir: Path, repositories: int, blobs: int, other: str | None, turn: int, server: Any
) -> list[Figure]:
    """The same figures with every root in one SeaweedFS bucket."""
    figures: list[Figure] = []
    if server is not None:
        for name, argv in _runs(other).items():
            root = "/" + _slug(f"{name}-{turn}")
            params = server.driver_params(rootdirectory=root)
            typed = server.params(rootdirectory=root)
            asyncio.run(build_on(create_driver(typed), repositories, blobs))
            before = asyncio.run(count_stored_blobs(create_driver(typed)))
            env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
            config = config_file(workdir, workdir, root.strip("/"), params)
            if name != "dockyard":
                # 3.1.1 takes the bucket from its environment, as in bench/servers.py.
                env.update(server.env(rootdirectory=root))
                config = config_file(workdir, workdir / "unused", "reference-base")
            seconds, rss = run_measured(argv(config), workdir, env)
            after = asyncio.run(count_stored_blobs(create_driver(typed)))
            figures.append(Figure(name, round(seconds, 2), round(rss, 1), before, after))
    return figures


def _median_and_spread(values: list[float]) -> str:
    ordered = sorted(values)
    middle = ordered[len(ordered) // 2]
    return f"{middle} ({ordered[0]}-{ordered[-1]})" if len(ordered) > 1 else str(middle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repositories", type=int, default=1000)
    parser.add_argument("--blobs", type=int, default=20000)
    parser.add_argument("--storage", choices=["filesystem", "s3"], default="filesystem")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--dockyard-cmd", help="another build's gc command; {config} is replaced")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE))
    figures: list[Figure] = []
    with (
        tempfile.TemporaryDirectory(prefix="gc-bench-") as workdir,
        contextlib.ExitStack() as stack,
    ):
        server = stack.enter_context(_seaweedfs(Path(workdir))) if args.storage == "s3" else None
        for turn in range(args.repeat):
            if server is not None:
                figures += measure_s3(
                    Path(workdir),
                    args.repositories,
                    args.blobs,
                    args.dockyard_cmd,
                    turn,
                    server,
                )
            else:
                figures += measure(
                    Path(workdir), args.repositories, args.blobs, args.dockyard_cmd, turn
                )
        # Before the copies are removed: on a file system mounted with ``discard`` that
        # takes minutes, and the figures should not wait for it.
        _print(figures, args)


def _print(figures: list[Figure], args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps([asdict(f) for f in figures], indent=2))
        return
    print(
        f"{args.storage}: {args.repositories} repositories, "
        f"{figures[0].blobs_before} blobs (half garbage)\n"
    )
    print("| collector | time (s) | peak RSS (MiB) | blobs after |")
    print("|---|---:|---:|---:|")
    for f in figures:
        print(f"| {f.collector} | {f.seconds} | {f.peak_rss_mib} | {f.blobs_after} |")
    if args.repeat > 1:
        print("\n| collector | median time (s) (spread) | median peak RSS (MiB) |")
        print("|---|---:|---:|")
        for name in dict.fromkeys(f.collector for f in figures):
            mine = [f for f in figures if f.collector == name]
            seconds = _median_and_spread([f.seconds for f in mine])
            rss = _median_and_spread([f.peak_rss_mib for f in mine])
            print(f"| {name} | {seconds} | {rss} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
