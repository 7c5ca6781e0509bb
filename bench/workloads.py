"""The measurements taken against one running registry, in order.

Each group of figures runs on its own; a group that fails records its error and the
run goes on, so a registry that lacks one feature is still measured on the others.
"""

from __future__ import annotations

import json
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from bench import images, loadgen, wrk
from bench.http import Connection, HttpError, request_target
from bench.images import ACCEPT_MANIFESTS, Blob, Image
from bench.profiling import Profiler
from bench.servers import RunningServer
from bench.settings import Settings
from bench.stats import median, percentile

UPLOAD_REPO = "bench/upload"
MANIFEST_REPO = "bench/manifest"
TAGS_REPO = "bench/tags"
CATALOG_PREFIX = "bench/catalog/r"
CATALOG_SOURCE = "bench/catalog-source"
PUSH_PREFIX = "bench/push/image"
PULL_PREFIX = "bench/pull/image"
MiB = 1 << 20


@dataclass
class ServerResult:
    """What was measured on one registry: figures, raw samples, errors, resource use."""

    name: str
    command: list[str]
    version: str
    figures: dict[str, float | None] = field(default_factory=dict)
    samples: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    tools: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "command": self.command,
            "version": self.version,
            "figures": self.figures,
            "samples": self.samples,
            "errors": self.errors,
            "tools": self.tools,
            "seconds": round(self.seconds, 2),
        }


def _mb_s(size: int, seconds: float) -> float:
    return round(size / seconds / 1e6, 1)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _parallel(
    workers: int, count: int, job: Callable[[Connection, int], None], server: RunningServer
) -> None:
    """Run ``job(conn, i)`` for every i < ``count`` on ``workers`` threads.

    Each thread has its own keep-alive connection and takes the next index when it is
    free, as a client's pool of pushers does.
    """
    indexes = iter(range(count))
    lock = threading.Lock()

    def worker() -> None:
        with server.connect() as conn:
            while True:
                with lock:
                    i = next(indexes, None)
                if i is None:
                    return
                job(conn, i)

    with ThreadPoolExecutor(workers) as pool:
        for f in [pool.submit(worker) for _ in range(workers)]:
            f.result()


def _clients(count: int, job: Callable[[Connection, int], None], server: RunningServer) -> None:
    """Run ``job(conn, n)`` for every n < ``count`` at once, each on its own connection."""

    def client(n: int) -> None:
        with server.connect() as conn:
            job(conn, n)

    with ThreadPoolExecutor(count) as pool:
        for f in [pool.submit(client, n) for n in range(count)]:
            f.result()


#: The figure groups, in the order a run measures them (each a ``Workloads`` method).
GROUPS: Final = (
    "uploads",
    "download",
    "manifest_get",
    "head_blob",
    "tags_list",
    "catalog",
    "push",
    "pull",
)


class Workloads:
    """Runs every figure group against ``server`` with ``settings``; log() reports progress."""

    def __init__(
        self,
        server: RunningServer,
        settings: Settings,
        log: Callable[[str], None],
        loadgen_tool: str,
        profile_dir: Path | None = None,
    ) -> None:
        self.server = server
        self.profile_dir = profile_dir
        self.s = settings
        self.log = log
        self.loadgen_tool = loadgen_tool
        self.result = ServerResult(server.spec.name, server.spec.command(server.config_path), "")
        self._download_blob: Blob | None = None
        self._image: Image | None = None

    @contextmanager
    def _group(self, name: str) -> Iterator[None]:
        self.log(f"  {self.result.name}: {name}")
        started = time.perf_counter()
        try:
            yield
        except Exception as exc:
            self.server.check_alive()
            self.result.errors[name] = f"{type(exc).__name__}: {exc}"
            self.log(f"  {self.result.name}: {name} FAILED: {exc}")
            if os.environ.get("BENCH_TRACEBACKS"):
                traceback.print_exc()
                self.log(f"  {self.result.name} log tail:\n{self.server.log_tail()}")
        finally:
            self.result.samples.setdefault("group_seconds", {})[name] = round(
                time.perf_counter() - started, 2
            )

    @contextmanager
    def _timed(self, name: str) -> Iterator[None]:
        """Mark the measured part of a group; with ``--profile``, py-spy samples it."""
        if self.profile_dir is None:
            yield
            return
        profiler = Profiler(self.server.pid, self.profile_dir / f"{name}.txt")
        try:
            yield
        finally:
            profiler.stop()

    def run(self, groups: tuple[str, ...] | None = None) -> ServerResult:
        """Every group in order (or only ``groups``), then the server's resource use."""
        started = time.perf_counter()
        unknown = set(groups or ()) - set(GROUPS)
        if unknown:
            raise ValueError(f"unknown groups {sorted(unknown)}; known: {', '.join(GROUPS)}")
        for name in GROUPS:
            if groups is not None and name not in groups:
                continue
            step: Callable[[], None] = getattr(self, name)
            with self._group(name):
                step()
        use = self.server.usage()
        self.result.figures["peak_rss_mib"] = round(use.peak_rss_bytes / MiB, 1)
        self.result.figures["cpu_seconds"] = round(use.cpu_seconds, 2)
        self.result.samples["processes"] = use.processes
        self.result.samples["rss_now_mib"] = round(use.rss_now_bytes / MiB, 1)
        self.result.samples["pss_now_mib"] = round(use.pss_now_bytes / MiB, 1)
        # The root first, then its children: which process holds the memory.
        self.result.samples["peak_rss_by_process_mib"] = [
            round(b / MiB, 1) for b in use.peak_rss_by_pid.values()
        ]
        self.result.seconds = time.perf_counter() - started
        return self.result

    # -- uploads and downloads -------------------------------------------------------

    def uploads(self) -> None:
        """Monolithic and chunked uploads of distinct random blobs, median MB/s of each."""
        self.upload_warm_up()
        for chunked in (False, True):
            for n in range(self.s.upload_samples):
                self.upload_sample(chunked, n)
        self.finish_uploads()

    def upload_warm_up(self) -> None:
        """One small upload, so that the first sample pays for no first-request setup."""
        with self.server.connect() as conn:
            images.upload_monolithic(conn, UPLOAD_REPO, images.random_blob(MiB))

    def upload_sample(self, chunked: bool, n: int) -> None:
        """Upload one fresh blob, monolithic or in ``chunk_size`` PATCHes, and note MB/s."""
        size = self.s.blob_size
        blob = images.large_blob(size)
        os.sync()  # start each sample without the previous one's dirty pages
        name = f"chunked_upload_{n}" if chunked else f"upload_{n}"
        with self.server.connect() as conn, self._timed(name):
            started = time.perf_counter()
            if chunked:
                images.upload_chunked(conn, UPLOAD_REPO, blob, self.s.chunk_size)
            else:
                images.upload_monolithic(conn, UPLOAD_REPO, blob)
            speed = _mb_s(size, time.perf_counter() - started)
        key = "chunked_upload_mb_s" if chunked else "upload_mb_s"
        self.result.samples.setdefault(key, []).append(speed)
        if not chunked:
            self._download_blob = blob

    def finish_uploads(self) -> None:
        """The medians of the samples taken."""
        for key in ("upload_mb_s", "chunked_upload_mb_s"):
            taken = self.result.samples.get(key)
            if taken:
                self.result.figures[key] = median(taken)

    def download(self) -> None:
        """Download the last uploaded blob: once verified, then timed, median MB/s."""
        blob = self._download_blob
        with self.server.connect() as conn:
            if blob is None:  # the uploads ran elsewhere (interleaved) or not at all
                blob = images.large_blob(self.s.blob_size)
                images.upload_monolithic(conn, UPLOAD_REPO, blob)
            images.download(conn, UPLOAD_REPO, blob, verify=True)
            # 200 when the bytes pass through the server, 307 when it redirects to S3.
            target = f"/v2/{UPLOAD_REPO}/blobs/{blob.digest}"
            first = conn.request("GET", target, discard_body=True)
            self.result.samples["blob_get_status"] = first.status
            speeds: list[float] = []
            with self._timed("download"):
                for _ in range(self.s.download_samples):
                    started = time.perf_counter()
                    images.download(conn, UPLOAD_REPO, blob)
                    speeds.append(_mb_s(blob.size, time.perf_counter() - started))
        self.result.samples["download_mb_s"] = speeds
        self.result.figures["download_mb_s"] = median(speeds)

    # -- small requests under load ----------------------------------------------------

    def _pushed_image(self) -> Image:
        if self._image is None:
            image = Image.build([images.random_blob(4096 + i) for i in range(3)])
            with self.server.connect() as conn:
                images.push_image(conn, MANIFEST_REPO, "latest", image)
                r = conn.request(
                    "GET",
                    f"/v2/{MANIFEST_REPO}/manifests/latest",
                    {"Accept": ACCEPT_MANIFESTS},
                ).expect(200)
                if r.body != image.manifest.data:
                    raise HttpError("manifest GET returned other bytes than were pushed")
            self._image = image
        return self._image

    def _get_load(self, target: str, connections: int) -> tuple[float, float, float, int]:
        """GET ``target`` under load: req/s, p50 and p99 (seconds), failed replies."""
        if self.loadgen_tool == "wrk":
            script = wrk.accept_script(
                self.server.workdir / "get-manifest.lua", "GET", ACCEPT_MANIFESTS
            )
            res = wrk.run_wrk(
                self.server.base_url + target,
                script,
                connections=connections,
                duration=self.s.load_seconds,
            )
            return res.rps, res.p50, res.p99, res.non_2xx + res.socket_errors
        load = loadgen.run_load(
            self.server.host,
            self.server.port,
            "GET",
            target,
            {"Accept": ACCEPT_MANIFESTS},
            connections=connections,
            duration=self.s.load_seconds,
        )
        return load.rps, load.p(50), load.p(99), load.non_2xx + load.errors

    def manifest_get(self) -> None:
        """Manifest GET by tag at concurrency 1 and 32: req/s, p50 and p99."""
        self._pushed_image()
        target = f"/v2/{MANIFEST_REPO}/manifests/latest"
        for conns in (1, self.s.load_connections):
            prefix = f"manifest_get_c{conns}"
            with self._timed(prefix):
                rps, p50, p99, bad = self._get_load(target, conns)
            self.result.samples[f"{prefix}_failures"] = bad
            if bad:
                raise HttpError(f"{prefix}: {bad} failed or non-2xx replies under load")
            self.result.figures[f"{prefix}_rps"] = round(rps, 1)
            self.result.figures[f"{prefix}_p50_ms"] = _ms(p50)
            self.result.figures[f"{prefix}_p99_ms"] = _ms(p99)
        self.result.tools["manifest_get"] = self.loadgen_tool

    def head_blob(self) -> None:
        """HEAD of a blob at concurrency 32 (asyncio load generator): req/s, p50, p99."""
        image = self._pushed_image()
        layer = image.layers[0]
        target = f"/v2/{MANIFEST_REPO}/blobs/{layer.digest}"
        with self.server.connect() as conn:
            r = conn.request("HEAD", target).expect(200)
            if r.header("content-length") != str(layer.size):
                raise HttpError(f"HEAD blob Content-Length {r.header('content-length')!r}")
        with self._timed("head_blob_c32"):
            load = loadgen.run_load(
                self.server.host,
                self.server.port,
                "HEAD",
                target,
                connections=self.s.load_connections,
                duration=self.s.load_seconds,
            )
        bad = load.non_2xx + load.errors
        self.result.samples["head_blob_c32_failures"] = bad
        if bad:
            raise HttpError(f"HEAD blob: {bad} failed or non-2xx replies under load")
        self.result.figures["head_blob_c32_rps"] = round(load.rps, 1)
        self.result.figures["head_blob_c32_p50_ms"] = _ms(load.p(50))
        self.result.figures["head_blob_c32_p99_ms"] = _ms(load.p(99))
        self.result.tools["head_blob"] = "python asyncio load generator"

    # -- listings ---------------------------------------------------------------------

    def _walk(self, conn: Connection, first: str, key: str) -> tuple[list[str], int]:
        """Follow a listing's Link headers from ``first``; return every entry and the pages."""
        entries: list[str] = []
        target: str | None = first
        pages = 0
        while target is not None:
            pages += 1
            if pages > 10_000:
                raise HttpError("listing did not end after 10000 pages")
            r = conn.request("GET", target).expect(200)
            entries.extend(json.loads(r.body)[key] or [])
            link = r.header("link")
            target = None
            if 'rel="next"' in link:
                target = request_target(link[link.index("<") + 1 : link.index(">")])
        return entries, pages

    def _time_walks(self, first: str, key: str, expect_at_least: int, name: str) -> list[float]:
        """Time full walks, up to ``listing_samples`` of them or ``listing_seconds``."""
        times: list[float] = []
        with self.server.connect() as conn:
            found, pages = self._walk(conn, first, key)  # warm-up, and the check
            if len(found) < expect_at_least or len(set(found)) != len(found):
                raise HttpError(f"walk of {first} gave {len(found)} entries")
            self.result.samples[f"{name}_pages"] = pages
            self.result.samples[f"{name}_entries"] = len(found)
            with self._timed(name):
                deadline = time.perf_counter() + self.s.listing_seconds
                while len(times) < self.s.listing_samples and time.perf_counter() < deadline:
                    started = time.perf_counter()
                    self._walk(conn, first, key)
                    times.append(time.perf_counter() - started)
        self.result.samples[f"{name}_ms"] = [_ms(t) for t in times]
        self.result.figures[f"{name}_p50_ms"] = _ms(percentile(times, 50))
        self.result.figures[f"{name}_p99_ms"] = _ms(percentile(times, 99))
        return times

    def tags_list(self) -> None:
        """List all tags of a repository that has ``tags`` of them: p50/p99 of the walk."""
        image = self._pushed_image()
        with self.server.connect() as conn:
            for blob in image.blobs:
                images.mount_blob(conn, TAGS_REPO, blob, MANIFEST_REPO)
        _parallel(
            self.s.setup_workers,
            self.s.tags,
            lambda conn, i: images.put_manifest(conn, TAGS_REPO, f"t{i:05d}", image),
            self.server,
        )
        # As clients such as skopeo ask: one request, no n (pages are followed should a
        # server page anyway). Then paged as the catalog is, from ?n=100, for comparison:
        # distribution 2.8.2 ignores n on this endpoint and still answers in one page.
        listing = f"/v2/{TAGS_REPO}/tags/list"
        self._time_walks(listing, "tags", self.s.tags, "tags_list")
        paged = f"{listing}?n={self.s.page_size}"
        self._time_walks(paged, "tags", self.s.tags, "tags_list_paged")

    def catalog(self) -> None:
        """Walk ``_catalog`` over ``repositories`` repositories, page by page: p50/p99."""
        image = Image.build([images.random_blob(2048)])
        with self.server.connect() as conn:
            images.push_image(conn, CATALOG_SOURCE, "latest", image)

        def make_repo(conn: Connection, i: int) -> None:
            repo = f"{CATALOG_PREFIX}{i:05d}"
            for blob in image.blobs:
                images.mount_blob(conn, repo, blob, CATALOG_SOURCE)
            images.put_manifest(conn, repo, "latest", image)

        _parallel(self.s.setup_workers, self.s.repositories, make_repo, self.server)
        first = f"/v2/_catalog?n={self.s.page_size}"
        self._time_walks(first, "repositories", self.s.repositories, "catalog_walk")

    # -- a concurrent push ---------------------------------------------------------------

    def push(self) -> None:
        """Push ``push_images`` fresh images of 3 layers with ``push_workers`` workers."""
        size = self.s.push_layer_size
        batch = [
            Image.build([images.random_blob(size + j) for j in range(3)])
            for _ in range(self.s.push_images)
        ]
        with self._timed("push"):
            started = time.perf_counter()
            _parallel(
                self.s.push_workers,
                len(batch),
                lambda conn, i: images.push_image(conn, f"{PUSH_PREFIX}{i:03d}", "v1", batch[i]),
                self.server,
            )
            self.result.figures["push_images_s"] = round(time.perf_counter() - started, 4)

    # -- concurrent pulls ----------------------------------------------------------------

    def pull(self) -> None:
        """``pull_clients`` clients each pull all ``pull_images`` images at once: wall time.

        Each client pulls as a runtime does — manifest by tag, then the config and every
        layer, following redirects to the storage backend — over its own keep-alive
        connection, starting at a different image so that they do not move in lockstep.
        """
        size = self.s.pull_layer_size
        batch = [
            Image.build([images.large_blob(size + j, block=MiB) for j in range(3)])
            for _ in range(self.s.pull_images)
        ]
        _parallel(
            self.s.setup_workers,
            len(batch),
            lambda conn, i: images.push_image(conn, f"{PULL_PREFIX}{i:03d}", "v1", batch[i]),
            self.server,
        )

        def client(conn: Connection, n: int) -> None:
            start = n * len(batch) // self.s.pull_clients
            for i in range(len(batch)):
                k = (start + i) % len(batch)
                images.pull_image(conn, f"{PULL_PREFIX}{k:03d}", "v1", batch[k])

        with self._timed("pull"):
            started = time.perf_counter()
            _clients(self.s.pull_clients, client, self.server)
            self.result.figures["pull_images_s"] = round(time.perf_counter() - started, 4)
        self.result.samples["pull_bytes"] = self.s.pull_clients * sum(
            b.size for image in batch for b in image.blobs
        )
