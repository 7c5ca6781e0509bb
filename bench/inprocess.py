"""CPU time per request of one build, in process: no sockets, no granian, no other server.

On a shared machine wall-clock load tests are noisy; the CPU a request costs the
registry's own code is not. Run it with each build's interpreter and compare::

    .venv/bin/python -m bench.inprocess
    /work/baseline/.venv/bin/python bench/inprocess.py

It builds the app from a bench-like configuration (filesystem storage, in-memory blob
descriptor cache, no access log), pushes one image and ``--tags`` tags through the ASGI
interface, then times HEAD blob, manifest GET and tags/list requests: the median of
``--rounds`` rounds of CPU microseconds per request. ``--profile GROUP`` writes a cProfile
summary of that group instead. Only the public ``dockyard`` package is imported, so the
script runs on any build that has ``config.from_dict`` and ``build_app``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import importlib
import io
import json
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, cast

from bench.asgi_scope import http_scope

Message = dict[str, Any]
Asgi = Callable[..., Coroutine[Any, Any, None]]

_REPO = "bench/inprocess"
_MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def _build_app(root: Path) -> Asgi:
    from dockyard import config as configuration

    tree = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(root)},
            "delete": {"enabled": True},
            "cache": {"blobdescriptor": "inmemory"},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": "127.0.0.1:5000", "secret": "dockyard-bench-secret"},
    }
    config = configuration.from_dict(tree, {}, cwd=root)
    try:
        from dockyard.assembly import build_app
    except ImportError:  # builds before the assembly module
        build_app = importlib.import_module("dockyard.server").build_app
    return cast(Asgi, build_app(config))


async def _request(
    app: Asgi, method: str, target: str, body: bytes = b"", headers: list[Any] | None = None
) -> tuple[int, bytes]:
    status, answer, _ = await _exchange(app, method, target, body, headers)
    return status, answer


async def _exchange(
    app: Asgi, method: str, target: str, body: bytes = b"", headers: list[Any] | None = None
) -> tuple[int, bytes, dict[bytes, bytes]]:
    """One request through the ASGI interface: status, body and response headers."""
    scope = http_scope(method, target, [(b"host", b"127.0.0.1:5000"), *(headers or [])])
    sent = False
    status = 0
    chunks: list[bytes] = []
    answered: dict[bytes, bytes] = {}

    async def receive() -> Message:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            answered.update(message.get("headers", ()))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks), answered


async def _lifespan(app: Asgi) -> Callable[[], Coroutine[Any, Any, None]]:
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    started = asyncio.Event()
    inbox.put_nowait({"type": "lifespan.startup"})

    async def send(message: Message) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()

    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send)
    )
    await asyncio.wait_for(started.wait(), 30)

    async def stop() -> None:
        inbox.put_nowait({"type": "lifespan.shutdown"})
        await asyncio.wait_for(task, 30)

    return stop


async def _push_blob(app: Asgi, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, _ = await _request(app, "POST", f"/v2/{_REPO}/blobs/uploads/?digest={digest}", data)
    if status != 201:
        raise RuntimeError(f"blob upload answered {status}")
    return digest


async def _setup(app: Asgi, tags: int) -> str:
    config = b"{}"
    layer = b"layer-bytes" * 300
    config_digest = await _push_blob(app, config)
    layer_digest = await _push_blob(app, layer)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": _MANIFEST_TYPE,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest,
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    headers = [(b"content-type", _MANIFEST_TYPE.encode())]
    for i in range(tags):
        status, _ = await _request(app, "PUT", f"/v2/{_REPO}/manifests/t{i:05d}", manifest, headers)
        if status != 201:
            raise RuntimeError(f"manifest PUT answered {status}")
    return layer_digest


async def _time(app: Asgi, method: str, target: str, count: int, headers: list[Any]) -> float:
    """CPU microseconds per request over ``count`` requests."""
    started = time.process_time()
    for _ in range(count):
        status, _ = await _request(app, method, target, headers=headers)
        if status != 200:
            raise RuntimeError(f"{method} {target} answered {status}")
    return (time.process_time() - started) / count * 1e6


async def _push_blobs(app: Asgi, count: int, size: int) -> tuple[float, float]:
    """Push ``count`` fresh blobs as clients do (HEAD, POST, PATCH, PUT): CPU
    microseconds and wall milliseconds per blob (the wall time is bound by ``fsync``)."""
    blobs = [i.to_bytes(8, "big") + bytes(size - 8) for i in range(count)]
    blobs = [
        hashlib.sha256(str(time.time_ns() + i).encode()).digest() + b for i, b in enumerate(blobs)
    ]
    started, wall = time.process_time(), time.perf_counter()
    for data in blobs:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        status, _ = await _request(app, "HEAD", f"/v2/{_REPO}/blobs/{digest}")
        status, _, answered = await _exchange(app, "POST", f"/v2/{_REPO}/blobs/uploads/")
        location = answered[b"location"].decode().removeprefix("http://127.0.0.1:5000")
        octets = [(b"content-type", b"application/octet-stream")]
        patch = [*octets, (b"content-range", f"0-{len(data) - 1}".encode())]
        status, _, answered = await _exchange(app, "PATCH", location, data, patch)
        location = answered[b"location"].decode().removeprefix("http://127.0.0.1:5000")
        joined = "&" if "?" in location else "?"
        status, _ = await _request(app, "PUT", f"{location}{joined}digest={digest}")
        if status != 201:
            raise RuntimeError(f"blob PUT answered {status}")
    cpu = (time.process_time() - started) / count * 1e6
    return cpu, (time.perf_counter() - wall) / count * 1e3


async def _main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="dockyard-inprocess-") as scratch:
        app = _build_app(Path(scratch))
        stop = await _lifespan(app)
        try:
            layer = await _setup(app, args.tags)
            accept = [(b"accept", _MANIFEST_TYPE.encode())]
            groups = {
                "head_blob": ("HEAD", f"/v2/{_REPO}/blobs/{layer}", args.requests, []),
                "manifest_get": ("GET", f"/v2/{_REPO}/manifests/t00000", args.requests, accept),
                "tags_list": ("GET", f"/v2/{_REPO}/tags/list", max(1, args.requests // 50), []),
                "tags_page": (
                    "GET",
                    f"/v2/{_REPO}/tags/list?n=100&last=t00500",
                    args.requests // 5,
                    [],
                ),
            }
            chosen = args.groups or [*groups, "push_blob"]
            for name in chosen:
                if name == "push_blob":
                    await _push_blobs(app, 10, args.blob_size)  # warm-up
                    pushed = [
                        await _push_blobs(app, 40, args.blob_size) for _ in range(args.rounds)
                    ]
                    cpu = statistics.median(p[0] for p in pushed)
                    wall = statistics.median(p[1] for p in pushed)
                    spread = [round(p[0]) for p in pushed]
                    print(
                        f"{name:14s} median {cpu:8.1f} us CPU per blob, {wall:.2f} ms wall "
                        f"({spread})"
                    )
                    continue
                method, target, count, headers = groups[name]
                await _time(app, method, target, count, headers)  # warm-up
                if args.profile == name:
                    profile = cProfile.Profile()
                    profile.enable()
                    await _time(app, method, target, count * args.rounds, headers)
                    profile.disable()
                    out = io.StringIO()
                    stats = pstats.Stats(profile, stream=out).sort_stats("tottime")
                    stats.print_stats(args.top)
                    print(out.getvalue())
                    continue
                rounds = [
                    await _time(app, method, target, count, headers) for _ in range(args.rounds)
                ]
                print(
                    f"{name:14s} median {statistics.median(rounds):8.1f} us/request "
                    f"(min {min(rounds):.1f}, max {max(rounds):.1f}, "
                    f"{args.rounds} rounds of {count})"
                )
        finally:
            await stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--groups",
        nargs="*",
        choices=("head_blob", "manifest_get", "tags_list", "tags_page", "push_blob"),
    )
    parser.add_argument("--blob-size", type=int, default=64 << 10, help="bytes per pushed blob")
    parser.add_argument("--profile", help="cProfile this group instead of timing it")
    parser.add_argument("--top", type=int, default=35, help="functions in the profile summary")
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    # Run as a script (so another build's interpreter can run it), ``bench/`` itself is
    # first on the path, and its ``http`` module would shadow the standard library's.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.exit(main())
