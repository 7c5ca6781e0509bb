"""The cost of operating features: metrics and notifications on versus off, same build.

``python -m bench.ops_figures [--quick] [--rounds N] [--out FILE] [--profile DIR]``
starts ``dockyard serve`` alternately without and with ``http.debug.prometheus`` and a
notification endpoint (a local receiver process that answers 200 at once), and measures
with the harness's own workloads the manifest GET at 32 connections and the 20-image
push, then the server's CPU time per manifest GET at 32 connections (``cpu_per_get``: far
steadier than throughput on a shared machine). It prints each run's figures and the
ratio of the medians (on / off for throughput; off / on for times, so that above 1 is
always faster with the features on). The issue's target is at least 0.9. With
``--profile DIR``, py-spy samples the server during the "on" runs and writes its stacks
per round and workload under ``DIR`` (see ``bench.profiling``).

``python -m bench.ops_figures inprocess [REQUESTS] [ROUNDS]`` drives manifest GETs, 32 at
a time, through the ASGI app in one process (no HTTP server: what dockyard's own code
costs), with nothing, metrics, and metrics and notifications on, each in turn in a fresh
process, and prints the CPU per GET in all threads and in the event loop alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from bench import loadgen, procstats
from bench.asgi_scope import http_scope
from bench.images import ACCEPT_MANIFESTS
from bench.servers import RunningServer, ServerSpec, free_port
from bench.settings import FULL, QUICK
from bench.stats import median
from bench.workloads import MANIFEST_REPO, Workloads

FIGURES = ("manifest_get_c32_rps", "push_images_s", "manifest_get_cpu_us")
#: How long the server gets after the CPU load to queue and deliver what it owes.
SETTLE_SECONDS = 2.0


#: What ``--ops`` turns on in the "on" runs.
OPS_CHOICES = ("all", "metrics", "no-pull-events")


def _ops_sections(debug_port: int, sink_port: int, ops: str) -> dict[str, Any]:
    sections: dict[str, Any] = {
        "http": {
            "debug": {
                "addr": f"127.0.0.1:{debug_port}",
                "prometheus": {"enabled": True, "path": "/metrics"},
            }
        },
        "notifications": {
            "endpoints": [
                {
                    "name": "bench",
                    "url": f"http://127.0.0.1:{sink_port}/events",
                    "timeout": "2s",
                    "backoff": "100ms",
                }
            ]
        },
    }
    if ops == "metrics":
        del sections["notifications"]
    elif ops == "no-pull-events":
        sections["notifications"]["endpoints"][0]["ignore"] = {"actions": ["pull"]}
    return sections


def serve_merged(config: Path, extra: Path) -> None:
    """Serve ``config`` (written by the harness) with ``extra``'s sections merged in."""
    tree = yaml.safe_load(config.read_text())
    for key, value in json.loads(extra.read_text()).items():
        if isinstance(value, dict) and isinstance(tree.get(key), dict):
            tree[key].update(value)
        else:
            tree[key] = value
    merged = config.with_name("config-ops.yml")
    merged.write_text(yaml.safe_dump(tree))
    dockyard = Path(sys.executable).with_name("dockyard")
    os.execv(dockyard, [str(dockyard), "serve", str(merged)])


def sink(port: int) -> None:
    """A webhook receiver that accepts every POST at once."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def measure(
    with_ops: bool, quick: bool, workdir: Path, ops: str = "all", profile: Path | None = None
) -> dict[str, float | None]:
    """One run of the two workloads against a fresh server."""
    argv = [str(Path(sys.executable).with_name("dockyard")), "serve"]
    receiver: subprocess.Popen[bytes] | None = None
    if with_ops:
        sink_port = free_port()
        receiver = subprocess.Popen(
            [sys.executable, "-m", "bench.ops_figures", "sink", str(sink_port)]
        )
        extra = workdir / "ops.json"
        extra.write_text(json.dumps(_ops_sections(free_port(), sink_port, ops)))
        argv = [sys.executable, "-m", "bench.ops_figures", "serve", "{config}", str(extra)]
    try:
        with RunningServer(ServerSpec("dockyard", argv), workdir) as server:
            settings = QUICK if quick else FULL
            if profile is not None:
                profile.mkdir(parents=True, exist_ok=True)
            workloads = Workloads(server, settings, lambda line: None, "loadgen", profile)
            result = workloads.run(("manifest_get", "push"))
            if result.errors:
                raise RuntimeError(f"workloads failed: {result.errors}")
            figures = {name: result.figures.get(name) for name in FIGURES}
            figures["manifest_get_cpu_us"] = cpu_per_get(server, settings.load_seconds)
            return figures
    finally:
        if receiver is not None:
            receiver.terminate()
            receiver.wait()


def cpu_per_get(server: RunningServer, seconds: float) -> float:
    """The server's CPU time per manifest GET at 32 connections, in microseconds.

    Throughput on a shared machine follows what else runs; the CPU a request costs the
    server (its threads included, and the delivery of the events it made, which is why
    the server gets ``SETTLE_SECONDS`` before the count ends) hardly does.
    """
    before = procstats.usage(server.pid).cpu_seconds
    load = loadgen.run_load(
        server.host,
        server.port,
        "GET",
        f"/v2/{MANIFEST_REPO}/manifests/latest",
        {"Accept": ACCEPT_MANIFESTS},
        connections=32,
        duration=seconds,
    )
    time.sleep(SETTLE_SECONDS)
    used = procstats.usage(server.pid).cpu_seconds - before
    return round(used / max(load.requests, 1) * 1e6, 1)


#: What ``inprocess`` compares: the same build with nothing, metrics only, or both on.
IN_PROCESS_MODES = ("off", "metrics", "all")


async def _asgi(app: Any, method: str, target: str, body: bytes = b"") -> int:
    """One request through the ASGI ``app``, as granian would pass it; its status."""
    headers = [(b"host", b"127.0.0.1:5000"), (b"user-agent", b"bench")]
    if method == "GET":
        headers.append((b"accept", ACCEPT_MANIFESTS.encode()))
    else:
        headers.append((b"content-length", str(len(body)).encode()))
        headers.append((b"content-type", b"application/vnd.oci.image.manifest.v1+json"))
    scope = http_scope(method, target, headers)
    status = 0
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:
            return {"type": "http.disconnect"}
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _in_process(
    mode: str, requests: int, workdir: Path, sink_port: int
) -> tuple[float, float]:
    """CPU microseconds per manifest GET through the whole ASGI app in this process, 32
    at a time, counted until the events they made are delivered (2 s after): in all
    threads, and in the event loop's alone."""
    import asyncio
    import gc
    import hashlib

    from dockyard.assembly import build_app
    from dockyard.config import from_dict

    tree: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(workdir / "root")}},
        "http": {"addr": "127.0.0.1:5000", "secret": "bench"},
    }
    if mode != "off":
        for key, value in _ops_sections(free_port(), sink_port, mode).items():
            tree.setdefault(key, {}).update(value)
    app = build_app(from_dict(tree))
    gc.freeze()  # as ``dockyard.serving.worker_app`` does once the app is built
    startup: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await startup.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(app({"type": "lifespan"}, startup.get, answers.put))
    await answers.get()
    config = b'{"architecture":"amd64","os":"linux"}'
    uploads = f"/v2/{MANIFEST_REPO}/blobs/uploads/"
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    assert await _asgi(app, "POST", f"{uploads}?digest={digest}", config) == 201
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest,
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()
    url = f"/v2/{MANIFEST_REPO}/manifests/latest"
    assert await _asgi(app, "PUT", url, manifest) == 201

    async def client(count: int) -> None:
        for _ in range(count):
            assert await _asgi(app, "GET", url) == 200

    await asyncio.gather(*(client(200) for _ in range(32)))  # warm up
    await asyncio.sleep(SETTLE_SECONDS)
    before, loop_before = time.process_time(), time.thread_time()
    await asyncio.gather(*(client(requests // 32) for _ in range(32)))
    await asyncio.sleep(SETTLE_SECONDS)
    used, loop_used = time.process_time() - before, time.thread_time() - loop_before
    await startup.put({"type": "lifespan.shutdown"})
    await lifespan
    done = requests // 32 * 32
    return round(used / done * 1e6, 1), round(loop_used / done * 1e6, 1)


def in_process(requests: int, rounds: int) -> dict[str, Any]:
    """``_in_process`` for each mode in turn, ``rounds`` times, each in a fresh process."""
    sink_port = free_port()
    receiver = subprocess.Popen([sys.executable, "-m", "bench.ops_figures", "sink", str(sink_port)])
    runs: dict[str, list[float]] = {mode: [] for mode in IN_PROCESS_MODES}
    loop: dict[str, list[float]] = {mode: [] for mode in IN_PROCESS_MODES}
    try:
        for _ in range(rounds):
            for mode in IN_PROCESS_MODES:
                with tempfile.TemporaryDirectory(prefix="dockyard-ops-inprocess-") as tmp:
                    argv = [sys.executable, "-m", "bench.ops_figures", "inprocess-one"]
                    argv += [mode, str(requests), tmp, str(sink_port)]
                    output = subprocess.run(argv, check=True, capture_output=True, text=True)
                    total, in_loop = output.stdout.split()[-2:]
                    runs[mode].append(float(total))
                    loop[mode].append(float(in_loop))
                    print(f"{mode:>8}: {total} us, {in_loop} in the event loop", flush=True)
    finally:
        receiver.terminate()
        receiver.wait()
    return {
        "cpu_us_per_get": runs,
        "loop_cpu_us_per_get": loop,
        "median": {mode: median(values) for mode, values in runs.items()},
        "loop_median": {mode: median(values) for mode, values in loop.items()},
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["inprocess-one"]:
        import asyncio

        mode, requests, workdir, sink_port = args[1], int(args[2]), Path(args[3]), int(args[4])
        print(*asyncio.run(_in_process(mode, requests, workdir, sink_port)))
        return 0
    if args[:1] == ["inprocess"]:
        rounds = int(args[2]) if len(args) > 2 else 3
        print(json.dumps(in_process(int(args[1]) if len(args) > 1 else 20_000, rounds), indent=1))
        return 0
    if args[:1] == ["serve"]:
        serve_merged(Path(args[1]), Path(args[2]))
        return 0
    if args[:1] == ["sink"]:
        sink(int(args[1]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.ops_figures", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--rounds", type=int, default=2, help="off/on pairs (default 2)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument(
        "--profile", type=Path, help="sample the 'on' runs with py-spy, stacks in this folder"
    )
    parser.add_argument(
        "--ops",
        choices=OPS_CHOICES,
        default="all",
        help="what the 'on' runs turn on: metrics and notifications (all), metrics only, "
        "or both with the endpoint ignoring pulls (no-pull-events)",
    )
    options = parser.parse_args(args)
    # The server and the receiver run this module too, from their own folders.
    root = str(Path(__file__).resolve().parent.parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    runs: dict[str, list[dict[str, float | None]]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory(prefix="dockyard-ops-bench-") as tmp:
        for round_ in range(options.rounds):
            for mode in ("off", "on"):
                workdir = Path(tmp) / f"{mode}-{round_}"
                workdir.mkdir()
                on = mode == "on"
                profile = None
                if on and options.profile is not None:
                    profile = options.profile / f"round-{round_ + 1}"
                figures = measure(on, options.quick, workdir, options.ops, profile)
                runs[mode].append(figures)
                print(f"round {round_ + 1} {mode:>3}: {figures}", flush=True)
    summary: dict[str, Any] = {"ops": options.ops, "runs": runs, "median": {}, "ratio": {}}
    for mode in ("off", "on"):
        summary["median"][mode] = {
            name: median([float(r[name] or 0.0) for r in runs[mode]]) for name in FIGURES
        }
    off, on = summary["median"]["off"], summary["median"]["on"]
    summary["ratio"]["manifest_get_c32"] = round(
        on["manifest_get_c32_rps"] / off["manifest_get_c32_rps"], 3
    )
    summary["ratio"]["push_20_images"] = round(off["push_images_s"] / on["push_images_s"], 3)
    summary["ratio"]["manifest_get_cpu"] = round(
        off["manifest_get_cpu_us"] / on["manifest_get_cpu_us"], 3
    )
    print(json.dumps({"median": summary["median"], "ratio": summary["ratio"]}, indent=1))
    if options.out is not None:
        options.out.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
