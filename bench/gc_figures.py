"""Garbage collection beside the reference: time and peak RSS on copies of one root.

Builds a filesystem root of ``--repositories`` repositories holding ``--blobs`` blobs in
all (images of a config and layers; every other image's tag deleted, so half the content
is garbage), copies it, and collects each copy once with ``--delete-untagged``: dockyard
(``dockyard gc``) and distribution 3.1.1 (``registry garbage-collect``). Prints a
Markdown table; ``--json`` writes the figures as JSON.

    python -m bench.gc_figures                          # 1,000 repositories, 20,000 blobs
    python -m bench.gc_figures --repositories 100 --blobs 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from dockyard.digest import Digest
from dockyard.manifest.base import OCI_MANIFEST
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.registry import StorageRegistry


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
    driver = FilesystemDriver(root)
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


def run_measured(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one process."""
    started = time.monotonic()
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(
            f"{argv[0]} failed: {process.stderr.read().decode() if process.stderr else ''}"
        )
    return seconds, usage.ru_maxrss / 1024


def config_file(workdir: Path, root: Path, name: str) -> Path:
    path = workdir / f"{name}.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "version": 0.1,
                "log": {"level": "error"},
                "http": {"secret": "bench"},
                "storage": {"filesystem": {"rootdirectory": str(root)}},
            }
        )
    )
    return path


def measure(workdir: Path, repositories: int, blobs: int) -> list[Figure]:
    source = workdir / "source"
    asyncio.run(build(source, repositories, blobs))
    figures: list[Figure] = []
    runs = {
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
    for name, argv in runs.items():
        root = workdir / name.replace(" ", "-")
        shutil.copytree(source, root)
        before = count_blobs(root)
        seconds, rss = run_measured(argv(config_file(workdir, root, root.name)), workdir)
        figures.append(Figure(name, round(seconds, 2), round(rss, 1), before, count_blobs(root)))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repositories", type=int, default=1000)
    parser.add_argument("--blobs", type=int, default=20000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE))
    with tempfile.TemporaryDirectory(prefix="gc-bench-") as workdir:
        figures = measure(Path(workdir), args.repositories, args.blobs)
    if args.json:
        print(json.dumps([asdict(f) for f in figures], indent=2))
        return
    print(f"{args.repositories} repositories, {figures[0].blobs_before} blobs (half garbage)\n")
    print("| collector | time (s) | peak RSS (MiB) | blobs after |")
    print("|---|---:|---:|---:|")
    for f in figures:
        print(f"| {f.collector} | {f.seconds} | {f.peak_rss_mib} | {f.blobs_after} |")


if __name__ == "__main__":
    main()
