"""``python -m bench``: measure the reference registry and dockyard, one after the other.

The reference is distribution 3.1.1 by default, 2.8.2 (Debian's) with ``--reference
2.8.2``, or any build with ``--reference-cmd``; storage is the filesystem, or S3 on a
SeaweedFS the harness starts (``--storage s3``, redirects to it ``--redirect on|off``).
Progress goes to stderr; the table goes to stdout; the JSON, the Markdown table and the
PNG chart go to ``--out`` (``bench/results`` by default) as ``<name>.*``: ``latest``
for the filesystem against 3.1.1, else named after the storage and the reference
(``s3-redirect-off``, ``ref-2.8.2``, ...).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import debian, figures, machine, report
from bench.http import HttpError
from bench.servers import (
    DEBIAN_REFERENCE,
    REFERENCES,
    RunningServer,
    ServerError,
    ServerSpec,
    Storage,
    dockyard_spec,
    find_reference_3_1_1,
    reference_spec,
)
from bench.settings import FULL, QUICK, Settings
from bench.workloads import GROUPS, ServerResult, Workloads

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "bench" / "results"


_BEGAN = time.monotonic()


def _log(message: str) -> None:
    print(f"[{time.monotonic() - _BEGAN:6.1f}s] {message}", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        epilog="BENCH_TRACEBACKS=1 prints the traceback and the server's log tail of a "
        "group that fails.",
    )
    p.add_argument("--only", choices=("dockyard", "reference"), help="measure one registry")
    p.add_argument("--quick", action="store_true", help="small sizes and short runs (smoke)")
    p.add_argument(
        "--reference",
        choices=REFERENCES,
        help="the reference release: 3.1.1 (the default, from ../shared/reference/ beside "
        "the checkout; 2.8.2 when that is missing) or 2.8.2 (Debian's docker-registry)",
    )
    p.add_argument(
        "--reference-cmd",
        metavar="CMD",
        help="command that starts another reference build; {config} is replaced by the "
        "config path, else the path is appended (targets are 3.1.1's)",
    )
    p.add_argument(
        "--storage",
        choices=("filesystem", "s3"),
        default="filesystem",
        help="filesystem, or S3 on a SeaweedFS started by the harness (same bucket and "
        "settings for both registries)",
    )
    p.add_argument(
        "--redirect",
        choices=("on", "off"),
        default="off",
        help="let blob GETs answer 307 to the storage backend (S3); clients follow it",
    )
    p.add_argument("--name", help="stem of the output files (default: from the options)")
    p.add_argument(
        "--dockyard-cmd",
        help="command that starts dockyard; {config} is replaced by the config path, "
        "else the path is appended (default: .venv/bin/dockyard serve)",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for latest.*")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample dockyard with py-spy during each group; stacks and summaries to DIR",
    )
    p.add_argument(
        "--loadgen",
        choices=("wrk", "python"),
        default="wrk",
        help="load generator for manifest GET (HEAD always uses the python one)",
    )
    p.add_argument(
        "--groups",
        type=lambda text: tuple(text.split(",")),
        metavar="G1,G2",
        help=f"measure only these figure groups ({', '.join(GROUPS)}); for focused work",
    )
    return p


def server_version(spec: ServerSpec) -> str:
    """The version a registry reports (the reference) or the git revision (dockyard)."""
    if spec.name == "reference":
        try:
            done = subprocess.run(
                [spec.argv[0], "--version"], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            return "unknown"
        return done.stdout.strip().split()[-1] if done.stdout.strip() else "unknown"
    rev = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return f"dockyard {rev or 'unknown'}"


def _measure(
    spec: ServerSpec,
    settings: Settings,
    scratch: Path,
    loadgen_tool: str,
    profile_dir: Path | None,
    storage: Storage,
    groups: tuple[str, ...] | None = None,
) -> ServerResult:
    workdir = scratch / spec.name
    workdir.mkdir()
    _log(f"{spec.name}: starting {' '.join(spec.argv)}")
    server = RunningServer(spec, workdir, storage=storage)
    try:
        with server:
            workloads = Workloads(server, settings, _log, loadgen_tool, profile_dir)
            workloads.result.version = server_version(spec)
            result = workloads.run(groups)
    except (ServerError, OSError) as exc:
        result = ServerResult(spec.name, spec.command(server.config_path), server_version(spec))
        result.errors["server"] = f"{type(exc).__name__}: {exc}"
        _log(f"{spec.name}: FAILED: {exc}")
    _log(f"{spec.name}: done in {result.seconds:.1f} s")
    return result


def _interleaved_uploads(
    specs: list[ServerSpec],
    settings: Settings,
    scratch: Path,
    loadgen_tool: str,
    storage: Storage,
) -> dict[str, ServerResult]:
    """The upload figures of every server, their samples taken in turns.

    This machine's disk slows down after a few GiB of writes and recovers over minutes,
    so a server measured after another uploads into a tired disk (measured: whichever
    went second lost up to half its speed). With every server running, sample n of each
    is taken before sample n+1 of any, the order alternating from one round to the next.
    """
    _log("uploads: every server running, samples taken in turns")
    with contextlib.ExitStack() as stack:
        workloads = []
        for spec in specs:
            workdir = scratch / f"{spec.name}-uploads"
            workdir.mkdir()
            server = stack.enter_context(RunningServer(spec, workdir, storage=storage))
            workloads.append(Workloads(server, settings, _log, loadgen_tool))
        failed: set[str] = set()

        def each(step: Callable[[Workloads], None], order: list[Workloads]) -> None:
            for workload in order:
                name = workload.result.name
                if name in failed:
                    continue
                try:
                    step(workload)
                except (ServerError, OSError, HttpError) as exc:
                    failed.add(name)
                    workload.result.errors["uploads"] = f"{type(exc).__name__}: {exc}"
                    _log(f"  {name}: uploads FAILED: {exc}")

        each(Workloads.upload_warm_up, workloads)
        for chunked in (False, True):
            for n in range(settings.upload_samples):
                order = workloads if n % 2 == 0 else workloads[::-1]
                each(functools.partial(_upload_sample, chunked=chunked, n=n), order)
        each(Workloads.finish_uploads, workloads)
    return {workload.result.name: workload.result for workload in workloads}


def _upload_sample(workload: Workloads, *, chunked: bool, n: int) -> None:
    workload.upload_sample(chunked, n)


def reference_release(args: argparse.Namespace) -> str:
    """The release measured against: as asked, else 3.1.1 if present, else 2.8.2."""
    if args.reference_cmd:
        return "custom"
    if args.reference:
        return str(args.reference)
    if find_reference_3_1_1() is not None:
        return "3.1.1"
    _log("distribution 3.1.1 not found beside the checkout: measuring against 2.8.2")
    return "2.8.2"


def output_name(args: argparse.Namespace, release: str) -> str:
    """The stem of the output files: ``latest`` for the default comparison."""
    if args.name:
        return str(args.name)
    parts = []
    if args.storage == "s3":
        parts.append(f"s3-redirect-{args.redirect}")
    if release != "3.1.1":
        parts.append(f"ref-{release}")
    return "-".join(parts) or "latest"


@contextlib.contextmanager
def _storage(kind: str, redirect: bool, scratch: Path) -> Iterator[Storage]:
    """Filesystem storage, or a SeaweedFS started here for the run (stopped after it)."""
    if kind == "filesystem":
        yield Storage(redirect=redirect)
        return
    # The tests' own SeaweedFS fixture, reused rather than copied.
    sys.path.insert(0, str(REPO_ROOT))
    from tests.s3_server import start_seaweedfs

    _log("s3: starting SeaweedFS")
    with start_seaweedfs(scratch / "s3") as seaweedfs:
        yield Storage(s3=seaweedfs.driver_params(), redirect=redirect)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure the machine and the chosen registries; return the results document."""
    settings = QUICK if args.quick else FULL
    started = datetime.now(UTC)
    loadgen_tool = args.loadgen
    release = reference_release(args)
    specs: list[ServerSpec] = []
    if args.only in (None, "reference"):
        if release == "2.8.2":
            debian.ensure_installed("docker-registry", DEBIAN_REFERENCE, _log)
        specs.append(reference_spec(release, args.reference_cmd))
    if args.only in (None, "dockyard"):
        specs.append(dockyard_spec(args.dockyard_cmd, Path(sys.executable).parent))
    if loadgen_tool == "wrk" and not debian.ensure_installed("wrk", "wrk", _log):
        _log("wrk unavailable: manifest GET uses the python load generator")
        loadgen_tool = "python"
    scratch = Path(tempfile.mkdtemp(prefix="dockyard-bench-"))
    try:
        _log("machine: measuring sha256, disk and page-cache speed")
        limits = machine.limits(scratch, settings.machine_probe_size)
        with _storage(args.storage, args.redirect == "on", scratch) as storage:
            servers = _measure_all(args, specs, settings, scratch, loadgen_tool, storage)
    finally:
        if args.keep:
            _log(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    ref = servers.get("reference")
    dy = servers.get("dockyard")
    return {
        "schema": 2,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": bool(args.quick),
        "reference": {"release": release, "version": ref.version if ref else None},
        "storage": {"kind": args.storage, "redirect": args.redirect == "on"},
        "machine": machine.describe(),
        "limits": limits,
        "settings": {**settings.as_dict(), "manifest_get_loadgen": loadgen_tool},
        "servers": {name: r.as_dict() for name, r in servers.items()},
        "figures": figures.compare(
            ref.figures if ref else None, dy.figures if dy else None, release
        ),
    }


def _measure_all(
    args: argparse.Namespace,
    specs: list[ServerSpec],
    settings: Settings,
    scratch: Path,
    loadgen_tool: str,
    storage: Storage,
) -> dict[str, ServerResult]:
    """The uploads of every server in turns, then each server's other groups in turn."""
    groups = args.groups
    interleaved: dict[str, ServerResult] = {}
    if len(specs) > 1 and (groups is None or "uploads" in groups):
        interleaved = _interleaved_uploads(specs, settings, scratch, loadgen_tool, storage)
        groups = tuple(group for group in groups or GROUPS if group != "uploads")
    servers = {}
    for spec in specs:
        profile_dir = None
        if args.profile is not None and spec.name == "dockyard":
            profile_dir = args.profile
            profile_dir.mkdir(parents=True, exist_ok=True)
        result = _measure(spec, settings, scratch, loadgen_tool, profile_dir, storage, groups)
        if spec.name in interleaved:
            uploads = interleaved[spec.name]
            result.figures.update(uploads.figures)
            result.samples.update(uploads.samples)
            result.errors.update(uploads.errors)
        servers[spec.name] = result
    return servers


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its outputs; 1 if no registry could be measured."""
    args = _parser().parse_args(argv)
    began = time.perf_counter()
    try:
        results = run(args)
    except ServerError as exc:  # the reference asked for is not there
        _log(f"FAILED: {exc}")
        return 1
    name = output_name(args, results["reference"]["release"])
    args.out.mkdir(parents=True, exist_ok=True)
    report.write_json(args.out / f"{name}.json", results)
    (args.out / f"{name}.md").write_text(
        report.markdown_table(results) + "\n" + report.machine_line(results) + "\n"
    )
    print(report.text_table(results), flush=True)
    try:
        report.draw_chart(args.out / f"{name}.png", results)
    except ImportError as exc:
        _log(f"no chart: {exc} (install the bench extra: pip install -e '.[bench]')")
    _log(
        f"wrote {name}.json, {name}.md, {name}.png to {args.out} "
        f"in {time.perf_counter() - began:.0f} s"
    )
    measured = [s for s in results["servers"].values() if "server" not in s["errors"]]
    return 0 if measured else 1
