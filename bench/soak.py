"""``python -m bench.soak``: hold each registry under mixed traffic and watch its memory.

A registry runs for months, so what its resident memory does under sustained traffic
matters as much as how fast it answers. This starts the reference registry and dockyard
one after the other (same configuration as ``python -m bench``), and drives each for
``--duration`` with ``--clients`` clients, each on its own keep-alive connection:

- ``mixed``: small pushes of fresh blobs (HEAD, POST, PATCH, PUT per blob, then the
  manifest), manifest GETs, blob HEADs and GETs, tags/list, and deletes of each client's
  old tags (by manifest digest) so that the repositories stay small;
- ``transfers``: the same, plus chunked uploads of a few MiB (1 MiB PATCHes, the blob
  deleted afterwards) and pulls of a larger layer, at the same time.

Every ``--sample-every`` seconds it records the requests answered so far and the RSS
summed over every process of the server (all workers). It reports, per registry, the RSS
after ``--warm-up`` and at the end, the growth between the two per 100,000 requests and
in percent, the peak, and the request rate and errors. A one-hour run (``--duration 1h``)
warms up for 10 minutes, so its growth is that between minute 10 and the end.

With ``--tracemalloc`` dockyard runs with ``http.debug.tracemalloc`` on, and the soak
reads ``/debug/tracemalloc`` at the end of warm-up and every ``--tracemalloc-every``
after it: each report lists the allocation sites that grew since the one before, so a
site that keeps growing while the traffic stays the same is what leaks. The reports go
into ``soak.json`` (tracing slows dockyard down: do not compare its rate with others).

Writes ``soak.json``, ``soak.md`` and ``soak.png`` (RSS over requests) to ``--out``.
``--combine A.json B.json …`` writes one table and one chart of the registries of
several earlier runs (say an hour of dockyard and ten minutes of the reference, run one
after the other with ``--only``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from bench import images, machine, procstats, report
from bench.cli import DEFAULT_OUT, reference_release, server_version
from bench.http import Connection, HttpError
from bench.images import ACCEPT_MANIFESTS, Blob, Image
from bench.servers import (
    REFERENCES,
    RunningServer,
    ServerError,
    ServerSpec,
    dockyard_spec,
    free_port,
    reference_spec,
)

MiB = 1 << 20
VARIANTS: Final = ("mixed", "transfers")
#: Tags a client keeps; pushing one more deletes its oldest.
KEEP_TAGS = 16
#: The shared repositories the clients push to, two clients to each by default.
REPOSITORIES = 4
#: Relative weights of each operation per variant (a push counts as one).
MIXED_WEIGHTS: Final = {
    "push": 1.0,
    "manifest_get": 4.0,
    "blob_head": 3.0,
    "blob_get": 2.0,
    "tags_list": 1.0,
}
TRANSFER_WEIGHTS: Final = {**MIXED_WEIGHTS, "chunked_upload": 0.25, "large_pull": 0.25}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(h|m|min|s)?\s*$")


def parse_duration(text: str) -> float:
    """Seconds of ``1h``, ``10m``, ``90s`` or ``90``."""
    match = _DURATION.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (say 1h, 10m or 90s)")
    unit = {"h": 3600.0, "m": 60.0, "min": 60.0}.get(match[2] or "s", 1.0)
    return float(match[1]) * unit


def default_warm_up(duration: float) -> float:
    """10 minutes for runs of half an hour or more, else a fifth of the run."""
    return 600.0 if duration >= 1800 else duration / 5


class _CountingConnection(Connection):
    """A connection that counts the requests it sends."""

    requests = 0

    def request(self, *args: Any, **kwargs: Any) -> Any:
        self.requests += 1
        return super().request(*args, **kwargs)


@dataclass
class _Shared:
    """What every client reads: a hot image, and a larger layer for the transfers."""

    hot_repo: str
    hot: Image
    large: Blob | None


@dataclass
class _ClientState:
    """One client's connection, its live tags (oldest first) and its tallies."""

    n: int
    conn: _CountingConnection
    rng: random.Random
    repo: str
    tags: list[tuple[str, Image]] = field(default_factory=list)
    pushed: int = 0
    ops: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)


class _Client:
    """Runs one client's loop of weighted random operations until told to stop."""

    def __init__(self, state: _ClientState, shared: _Shared, weights: dict[str, float]) -> None:
        self.s = state
        self.shared = shared
        self.names = list(weights)
        self.weights = list(weights.values())

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            op = self.s.rng.choices(self.names, self.weights)[0]
            try:
                getattr(self, op)()
                self.s.ops[op] += 1
            except (HttpError, OSError) as exc:
                self.s.errors += 1
                if len(self.s.first_errors) < 5:
                    self.s.first_errors.append(f"{op}: {type(exc).__name__}: {exc}")
                self.s.conn.close()
                if stop.wait(0.05):
                    return

    def _some_image(self) -> tuple[str, str, Image]:
        if self.s.tags and self.s.rng.random() < 0.5:
            tag, image = self.s.rng.choice(self.s.tags)
            return self.s.repo, tag, image
        return self.shared.hot_repo, "latest", self.shared.hot

    def push(self) -> None:
        """Push a fresh small image; past KEEP_TAGS, delete the oldest tag's manifest."""
        rng = self.s.rng
        layers = [images.random_blob(rng.randint(1024, 8192)) for _ in range(2)]
        image = Image.build(layers)
        tag = f"c{self.s.n}-{self.s.pushed}"
        self.s.pushed += 1
        images.push_image(self.s.conn, self.s.repo, tag, image)
        self.s.tags.append((tag, image))
        if len(self.s.tags) > KEEP_TAGS:
            _, old = self.s.tags.pop(0)
            target = f"/v2/{self.s.repo}/manifests/{old.manifest.digest}"
            self.s.conn.request("DELETE", target).expect(202)
            self.s.ops["delete"] += 1

    def manifest_get(self) -> None:
        repo, tag, image = self._some_image()
        r = self.s.conn.request(
            "GET", f"/v2/{repo}/manifests/{tag}", {"Accept": ACCEPT_MANIFESTS}
        ).expect(200)
        if r.body != image.manifest.data:
            raise HttpError(f"{repo}:{tag}: another manifest than the one pushed")

    def blob_head(self) -> None:
        repo, _, image = self._some_image()
        blob = self.s.rng.choice(image.blobs)
        self.s.conn.request("HEAD", f"/v2/{repo}/blobs/{blob.digest}").expect(200)

    def blob_get(self) -> None:
        repo, _, image = self._some_image()
        images.download(self.s.conn, repo, self.s.rng.choice(image.blobs))

    def tags_list(self) -> None:
        self.s.conn.request("GET", f"/v2/{self.s.repo}/tags/list").expect(200)

    def chunked_upload(self) -> None:
        """A fresh blob of 2-6 MiB in 1 MiB PATCHes, deleted once it is in."""
        size = self.s.rng.randint(2 * MiB, 6 * MiB)
        blob = images.large_blob(size, block=MiB)
        images.upload_chunked(self.s.conn, self.s.repo, blob, MiB)
        self.s.conn.request("DELETE", f"/v2/{self.s.repo}/blobs/{blob.digest}").expect(202)
        self.s.ops["delete"] += 1

    def large_pull(self) -> None:
        assert self.shared.large is not None
        images.download(self.s.conn, self.shared.hot_repo, self.shared.large)


@dataclass(frozen=True)
class SoakSettings:
    """The knobs of a soak run."""

    duration: float
    warm_up: float
    clients: int = 8
    sample_every: float = 5.0
    variant: str = "mixed"
    large_layer: int = 32 * MiB
    #: Seconds between ``/debug/tracemalloc`` reports after warm-up; None: no tracing.
    tracemalloc_every: float | None = None


def soak_one(
    server: RunningServer,
    settings: SoakSettings,
    log: Any,
    name: str,
    debug_port: int | None = None,
) -> dict[str, Any]:
    """Drive ``server`` for the run's duration; its samples and figures (and with a
    ``debug_port``, the allocation reports of its ``/debug/tracemalloc``)."""
    weights = TRANSFER_WEIGHTS if settings.variant == "transfers" else MIXED_WEIGHTS
    hot = Image.build([images.random_blob(4096 + i) for i in range(3)])
    large = images.large_blob(settings.large_layer) if settings.variant == "transfers" else None
    with server.connect() as conn:
        images.push_image(conn, "soak/hot", "latest", hot)
        if large is not None:
            images.upload_monolithic(conn, "soak/hot", large)
    shared = _Shared("soak/hot", hot, large)
    states = [
        _ClientState(
            n,
            _CountingConnection(server.host, server.port),
            random.Random(n),
            f"soak/r{n % REPOSITORIES}",
        )
        for n in range(settings.clients)
    ]
    for state in states:  # every repository has a tag before the clock starts
        _Client(state, shared, weights).push()
        state.conn.requests = 0
        state.ops.clear()
    stop = threading.Event()
    threads = [
        threading.Thread(target=_Client(s, shared, weights).run, args=(stop,), daemon=True)
        for s in states
    ]
    samples: list[dict[str, Any]] = []
    allocations: list[dict[str, Any]] = []
    next_trace = settings.warm_up if debug_port is not None else float("inf")

    def trace(elapsed: float) -> None:
        assert debug_port is not None
        report = allocation_report(server.host, debug_port)
        report["t"], report["requests"] = round(elapsed, 1), requests()
        allocations.append(report)
        for site in report["growth"][:5]:
            log(f"  {name}: +{site['bytes_diff'] / 1024:8.1f} KiB {site['site'][0]}")

    def requests() -> int:
        return sum(s.conn.requests for s in states)

    def sample(elapsed: float) -> dict[str, Any]:
        each = procstats.rss_now(server.pid)
        total = sum(each)
        point = {
            "t": round(elapsed, 1),
            "requests": requests(),
            "errors": sum(s.errors for s in states),
            "rss_mib": round(total / MiB, 2),
            "rss_by_process_mib": [round(b / MiB, 2) for b in each],
        }
        samples.append(point)
        return point

    started = time.monotonic()
    sample(0.0)
    for t in threads:
        t.start()
    next_log = 60.0
    try:
        while (elapsed := time.monotonic() - started) < settings.duration:
            stop.wait(min(settings.sample_every, settings.duration - elapsed))
            elapsed = time.monotonic() - started
            point = sample(elapsed)
            server.check_alive()
            if elapsed >= next_trace or (debug_port is not None and elapsed >= settings.duration):
                trace(elapsed)
                next_trace = elapsed + (settings.tracemalloc_every or settings.duration)
            if elapsed >= next_log or elapsed >= settings.duration:
                rate = point["requests"] / elapsed if elapsed else 0.0
                log(
                    f"  {name}: {elapsed / 60:5.1f} min, {point['requests']:,} requests "
                    f"({rate:,.0f}/s), RSS {point['rss_mib']:.1f} MiB, "
                    f"{point['errors']} errors"
                )
                next_log += 60.0
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
        for s in states:
            s.conn.close()
    ops: Counter[str] = Counter()
    for s in states:
        ops.update(s.ops)
    return {
        "figures": figures_of(samples, settings.warm_up),
        "operations": dict(ops),
        "first_errors": [e for s in states for e in s.first_errors][:10],
        "samples": samples,
        **({"allocations": allocations} if debug_port is not None else {}),
    }


def allocation_report(host: str, port: int, limit: int = 30) -> dict[str, Any]:
    """One ``/debug/tracemalloc`` report of the server's debug listener."""
    conn = Connection(host, port, timeout=300.0)
    try:
        response = conn.request("GET", f"/debug/tracemalloc?limit={limit}").expect(200)
    finally:
        conn.close()
    report: dict[str, Any] = json.loads(response.body)
    return report


@contextlib.contextmanager
def tracing_environment(port: int, frames: int) -> Iterator[None]:
    """``REGISTRY_*`` variables that turn on the debug listener and tracemalloc, set in
    this process's environment (which the server copies when it starts) for the block."""
    names = {
        "REGISTRY_HTTP_DEBUG_ADDR": f"127.0.0.1:{port}",
        "REGISTRY_HTTP_DEBUG_TRACEMALLOC_ENABLED": "true",
        "REGISTRY_HTTP_DEBUG_TRACEMALLOC_FRAMES": str(frames),
    }
    os.environ.update(names)
    try:
        yield
    finally:
        for key in names:
            os.environ.pop(key, None)


def _at(samples: list[dict[str, Any]], t: float) -> dict[str, Any]:
    """The first sample taken at or after ``t`` seconds (the last one if none is)."""
    return next((s for s in samples if s["t"] >= t), samples[-1])


def figures_of(samples: list[dict[str, Any]], warm_up: float) -> dict[str, float | None]:
    """RSS after warm-up and at the end, growth per 100,000 requests and in percent."""
    first, warm, end = samples[0], _at(samples, warm_up), samples[-1]
    served = end["requests"] - warm["requests"]
    grown = end["rss_mib"] - warm["rss_mib"]
    # The last fifth of the run on its own: whether memory is still rising at the end.
    late = _at(samples, end["t"] * 0.8)
    late_served = end["requests"] - late["requests"]
    seconds = end["t"] or 1.0
    return {
        "seconds": end["t"],
        "requests": end["requests"],
        "requests_per_s": round(end["requests"] / seconds, 1),
        "errors": end["errors"],
        "rss_start_mib": first["rss_mib"],
        "warm_up_s": warm["t"],
        "rss_after_warm_up_mib": warm["rss_mib"],
        "rss_end_mib": end["rss_mib"],
        "rss_peak_mib": max(s["rss_mib"] for s in samples),
        "growth_mib_per_100k": round(grown / served * 100_000, 3) if served else None,
        "growth_pct": round(100 * grown / warm["rss_mib"], 2) if warm["rss_mib"] else None,
        "late_growth_mib_per_100k": (
            round((end["rss_mib"] - late["rss_mib"]) / late_served * 100_000, 3)
            if late_served
            else None
        ),
    }


_ROWS: Final = (
    ("requests", "requests", "{:,.0f}"),
    ("requests_per_s", "requests/s", "{:,.0f}"),
    ("errors", "errors", "{:,.0f}"),
    ("rss_start_mib", "RSS at start (MiB)", "{:.1f}"),
    ("rss_after_warm_up_mib", "RSS after warm-up (MiB)", "{:.1f}"),
    ("rss_end_mib", "RSS at the end (MiB)", "{:.1f}"),
    ("rss_peak_mib", "RSS peak (MiB)", "{:.1f}"),
    ("growth_mib_per_100k", "growth after warm-up (MiB per 100k requests)", "{:+.2f}"),
    ("growth_pct", "growth after warm-up (%)", "{:+.1f}"),
    ("late_growth_mib_per_100k", "growth in the last fifth (MiB per 100k requests)", "{:+.2f}"),
)


def markdown_table(results: dict[str, Any]) -> str:
    """One column per registry, one row per figure."""
    names = list(results["servers"])
    out = [
        "| figure | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for key, label, fmt in _ROWS:
        cells = []
        for name in names:
            value = results["servers"][name].get("figures", {}).get(key)
            cells.append("-" if value is None else fmt.format(value))
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def draw_chart(path: Path, results: dict[str, Any]) -> None:
    """RSS of each registry over the requests it answered."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    for name, server in results["servers"].items():
        samples = server.get("samples") or []
        if not samples:
            continue
        label = f"{name} ({server['version']})"
        ax.plot([s["requests"] for s in samples], [s["rss_mib"] for s in samples], label=label)
        warm = server["figures"].get("warm_up_s")
        at = _at(samples, warm) if warm is not None else None
        if at is not None:
            ax.plot([at["requests"]], [at["rss_mib"]], "o", color="black", ms=4)
    ax.set_xlabel("requests answered (dot: end of warm-up)")
    ax.set_ylabel("RSS, all processes (MiB)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    m = results["machine"]
    ax.set_title(
        f"soak, {results['settings']['variant']} traffic, {results['settings']['clients']} "
        f"clients — {m['cpu_model']}, {m['cores']} cores — "
        f"{results['finished_at'][:16].replace('T', ' ')} UTC",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


_BEGAN = time.monotonic()


def _log(message: str) -> None:
    print(f"[{time.monotonic() - _BEGAN:7.1f}s] {message}", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    p.add_argument("--duration", type=parse_duration, default=600.0, help="per registry (10m)")
    p.add_argument(
        "--warm-up",
        type=parse_duration,
        help="growth is measured from here to the end (10m for runs of 30m or more, "
        "else a fifth of the run)",
    )
    p.add_argument("--variant", choices=VARIANTS, default="mixed")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--sample-every", type=parse_duration, default=5.0, help="RSS sampling (5s)")
    p.add_argument(
        "--tracemalloc",
        action="store_true",
        help="run dockyard with http.debug.tracemalloc and record what grows",
    )
    p.add_argument(
        "--tracemalloc-every",
        type=parse_duration,
        default=120.0,
        help="between allocation reports after warm-up (2m)",
    )
    p.add_argument("--tracemalloc-frames", type=int, default=1, help="frames per allocation")
    p.add_argument("--only", choices=("dockyard", "reference"), help="soak one registry")
    p.add_argument("--reference", choices=REFERENCES, help="reference release (3.1.1)")
    p.add_argument("--reference-cmd", metavar="CMD", help="command of another reference build")
    p.add_argument("--dockyard-cmd", metavar="CMD", help="command that starts dockyard")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the results")
    p.add_argument("--name", help="stem of the output files (soak, or soak-transfers)")
    p.add_argument(
        "--combine",
        nargs="+",
        type=Path,
        metavar="JSON",
        help="run nothing: one table and chart of the registries of these results",
    )
    return p


def combine(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """One results document holding every registry of ``documents`` (the first one's
    settings and machine); a registry of several is named by its run's duration."""
    servers: dict[str, Any] = {}
    for document in documents:
        minutes = round(document["settings"]["duration_s"] / 60)
        for name, server in document["servers"].items():
            key = name if name not in servers else f"{name} ({minutes} min)"
            servers[key] = {**server, "run": {k: document[k] for k in ("started_at", "settings")}}
    first = documents[0]
    return {
        **first,
        "finished_at": max(d["finished_at"] for d in documents),
        "combined_from": [d["started_at"] for d in documents],
        "servers": servers,
    }


def _specs(args: argparse.Namespace) -> tuple[str, list[ServerSpec]]:
    release = reference_release(args)
    specs = []
    if args.only in (None, "reference"):
        specs.append(reference_spec(release, args.reference_cmd))
    if args.only in (None, "dockyard"):
        specs.append(dockyard_spec(args.dockyard_cmd, Path(sys.executable).parent))
    return release, specs


def run(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    """Soak each registry in turn, its storage in ``scratch``; the results document."""
    warm_up = args.warm_up if args.warm_up is not None else default_warm_up(args.duration)
    settings = SoakSettings(
        duration=args.duration,
        warm_up=min(warm_up, args.duration),
        clients=args.clients,
        sample_every=min(args.sample_every, args.duration),
        variant=args.variant,
        tracemalloc_every=args.tracemalloc_every if args.tracemalloc else None,
    )
    release, specs = _specs(args)
    started = datetime.now(UTC)
    servers: dict[str, Any] = {}
    for n, spec in enumerate(specs):
        workdir = scratch / spec.name
        workdir.mkdir()
        _log(f"{spec.name}: {settings.variant} traffic for {settings.duration:.0f} s")
        entry: dict[str, Any] = {"version": server_version(spec), "command": spec.argv}
        tracing = settings.tracemalloc_every is not None and spec.name == "dockyard"
        debug_port = free_port() if tracing else None
        try:
            with contextlib.ExitStack() as stack:
                if debug_port is not None:
                    stack.enter_context(tracing_environment(debug_port, args.tracemalloc_frames))
                server = stack.enter_context(RunningServer(spec, workdir))
                entry.update(soak_one(server, settings, _log, spec.name, debug_port))
        except (ServerError, HttpError, OSError) as exc:
            entry["failed"] = f"{type(exc).__name__}: {exc}"
            entry.setdefault("figures", {})
            _log(f"{spec.name}: FAILED: {exc}")
        servers[spec.name] = entry
        if n + 1 < len(specs):
            # Hundreds of thousands of small files: removed now, not under the next server.
            _log(f"{spec.name}: removing its storage")
            shutil.rmtree(workdir, ignore_errors=True)
    return {
        "schema": 1,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "reference": {"release": release},
        "machine": machine.describe(),
        "settings": {
            "duration_s": settings.duration,
            "warm_up_s": settings.warm_up,
            "clients": settings.clients,
            "sample_every_s": settings.sample_every,
            "variant": settings.variant,
            "tracemalloc": settings.tracemalloc_every is not None,
            "keep_tags": KEEP_TAGS,
            "weights": TRANSFER_WEIGHTS if settings.variant == "transfers" else MIXED_WEIGHTS,
        },
        "servers": servers,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the soak and write its outputs; 1 if a registry failed or answered errors."""
    args = _parser().parse_args(argv)
    if args.combine:
        results = combine([json.loads(path.read_text()) for path in args.combine])
        return _write(args, results)
    scratch = Path(tempfile.mkdtemp(prefix="dockyard-soak-"))
    try:
        return _run_and_write(args, scratch)
    finally:
        _log("removing the servers' storage")
        shutil.rmtree(scratch, ignore_errors=True)


def _run_and_write(args: argparse.Namespace, scratch: Path) -> int:
    try:
        results = run(args, scratch)
    except ServerError as exc:
        _log(f"FAILED: {exc}")
        return 1
    return _write(args, results)


def _write(args: argparse.Namespace, results: dict[str, Any]) -> int:
    """Write ``results`` as JSON, a table and a chart; 1 if a registry failed or erred."""
    name = args.name or ("soak" if args.variant == "mixed" else f"soak-{args.variant}")
    args.out.mkdir(parents=True, exist_ok=True)
    report.write_json(args.out / f"{name}.json", results)
    table = markdown_table(results)
    (args.out / f"{name}.md").write_text(table)
    print(table, flush=True)
    for server_name, server in results["servers"].items():
        for error in server.get("first_errors", []):
            print(f"{server_name}: {error}")
    try:
        draw_chart(args.out / f"{name}.png", results)
    except ImportError as exc:
        _log(f"no chart: {exc}")
    _log(f"wrote {name}.json, {name}.md, {name}.png to {args.out}")
    ok = all(
        "failed" not in s and not s["figures"].get("errors") for s in results["servers"].values()
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
