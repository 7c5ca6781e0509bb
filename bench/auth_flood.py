"""What a wrong-password flood does to authenticated requests (issue 11, point 2).

``python -m bench.auth_flood`` starts ``dockyard serve`` behind htpasswd (one user,
bcrypt cost 10), pushes a blob, and measures an authenticated ``HEAD`` of it, paced
every few milliseconds on one keep-alive connection: first idle, then while a separate
process keeps ``--flooders`` connections busy sending the right user name with random
passwords (as fast as the server answers). It does so twice: with the default
``auth.ratelimit`` (the flood is locked out after 10 failures and gets 429s) and with
``auth.ratelimit.attempts: 0`` (no limit: every attempt costs a bcrypt run, which shows
what keeping bcrypt on its own threads is worth). The figure of merit is the flooded
p99 over the idle p99; the goal is at most 3.

``--dockyard-cmd`` runs another build instead (``{config}`` marks the configuration
path), e.g. the baseline checkout: ``--dockyard-cmd '/work/baseline/.venv/bin/dockyard
serve {config}' --scenario default`` (older builds know no ``auth.ratelimit``, and
limit nothing).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import multiprocessing
import os
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import bcrypt

from bench.http import Connection, request_target, with_query
from bench.servers import RunningServer, ServerSpec, dockyard_spec
from bench.stats import median, percentile

USER = "bench"
PASSWORD = "right-password"
REPOSITORY = "bench/flood"
#: Scenario → ``auth.ratelimit.attempts`` (None: the key is not set, so the default).
SCENARIOS = {"default": None, "unlimited": "0"}


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Latencies:
    """Authenticated HEAD latencies of one phase, in milliseconds."""

    requests: int
    p50: float
    p99: float
    max: float

    @classmethod
    def of(cls, seconds: list[float]) -> Latencies:
        ms = [s * 1000 for s in seconds]
        return cls(len(ms), median(ms), percentile(ms, 99), max(ms))


@dataclass
class ScenarioResult:
    """Idle and flooded latencies of one scenario, and what the flood got back."""

    scenario: str
    idle: Latencies
    flooded: Latencies
    flood_statuses: dict[str, int]

    @property
    def p99_ratio(self) -> float:
        return self.flooded.p99 / self.idle.p99


def _set_environment(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextlib.contextmanager
def _environment(**values: str | None) -> Iterator[None]:
    """``values`` in the environment the server inherits (None: unset), then restored."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        _set_environment(values)
        yield
    finally:
        _set_environment(saved)


def _push_blob(server: RunningServer, authorization: str) -> str:
    data = secrets.token_bytes(4096)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    headers = {"Authorization": authorization}
    with server.connect() as conn:
        started = conn.request("POST", f"/v2/{REPOSITORY}/blobs/uploads/", headers).expect(202)
        target = with_query(request_target(started.header("location")), digest=digest)
        conn.request("PUT", target, headers, data).expect(201)
    return f"/v2/{REPOSITORY}/blobs/{digest}"


def _measure(server: RunningServer, target: str, seconds: float, pace: float) -> list[float]:
    headers = {"Authorization": _basic(USER, PASSWORD)}
    samples: list[float] = []
    with server.connect() as conn:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            conn.request("HEAD", target, headers).expect(200)
            samples.append(time.perf_counter() - started)
            time.sleep(max(0.0, pace - (time.perf_counter() - started)))
    return samples


def _flood(host: str, port: int, connections: int, stop: EventType, counts: Any, lock: Any) -> None:
    """Runs in its own process: ``connections`` threads sending wrong passwords."""

    def one() -> None:
        seen: Counter[int] = Counter()
        with Connection(host, port) as conn:
            while not stop.is_set():
                auth = _basic(USER, secrets.token_urlsafe(12))
                try:
                    seen[conn.request("GET", "/v2/", {"Authorization": auth}).status] += 1
                except OSError:
                    seen[0] += 1
        with lock:
            for status, n in seen.items():
                counts[str(status)] = counts.get(str(status), 0) + n

    threads = [threading.Thread(target=one) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def run_scenario(
    spec: ServerSpec, scenario: str, *, seconds: float, flooders: int, cost: int, pace: float
) -> ScenarioResult:
    with tempfile.TemporaryDirectory(prefix="auth-flood-") as folder:
        workdir = Path(folder)
        users = workdir / "htpasswd"
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(cost)).decode()
        users.write_text(f"{USER}:{hashed}\n")
        with (
            _environment(
                REGISTRY_AUTH="htpasswd",
                REGISTRY_AUTH_HTPASSWD_REALM="bench",
                REGISTRY_AUTH_HTPASSWD_PATH=str(users),
                REGISTRY_AUTH_RATELIMIT_ATTEMPTS=SCENARIOS[scenario],
            ),
            RunningServer(spec, workdir) as server,
        ):
            target = _push_blob(server, _basic(USER, PASSWORD))
            _measure(server, target, 1.0, pace)  # warm up, and verify the password once
            idle = _measure(server, target, seconds, pace)
            manager = multiprocessing.Manager()
            counts, lock = manager.dict(), manager.Lock()
            stop = multiprocessing.Event()
            process = multiprocessing.Process(
                target=_flood, args=(server.host, server.port, flooders, stop, counts, lock)
            )
            process.start()
            time.sleep(1.0)  # let the flood reach its steady state
            try:
                flooded = _measure(server, target, seconds, pace)
            finally:
                stop.set()
                process.join(timeout=30)
            statuses = dict(counts)
            manager.shutdown()
            server.check_alive()
    return ScenarioResult(scenario, Latencies.of(idle), Latencies.of(flooded), statuses)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.auth_flood", description=__doc__)
    parser.add_argument("--dockyard-cmd", help="argv of the build to measure ({config})")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--flooders", type=int, default=12, help="flooding connections")
    parser.add_argument("--cost", type=int, default=10, help="bcrypt cost of the user")
    parser.add_argument("--pace", type=float, default=0.01, help="seconds between HEADs")
    parser.add_argument(
        "--scenario", choices=sorted(SCENARIOS), action="append", help="default: both"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    spec = dockyard_spec(args.dockyard_cmd, Path(sys.executable).parent)
    results = []
    for scenario in args.scenario or list(SCENARIOS):
        if not args.json:
            print(f"{scenario}: {args.seconds:.0f}s idle, then {args.flooders} flooders …")
        result = run_scenario(
            spec,
            scenario,
            seconds=args.seconds,
            flooders=args.flooders,
            cost=args.cost,
            pace=args.pace,
        )
        results.append(result)
        if not args.json:
            print(
                f"  idle    p50 {result.idle.p50:6.2f} ms  p99 {result.idle.p99:6.2f} ms  "
                f"max {result.idle.max:7.2f} ms  ({result.idle.requests} HEADs)\n"
                f"  flooded p50 {result.flooded.p50:6.2f} ms  p99 {result.flooded.p99:6.2f} ms  "
                f"max {result.flooded.max:7.2f} ms  ({result.flooded.requests} HEADs)\n"
                f"  flooded p99 / idle p99 = {result.p99_ratio:.2f} (goal <= 3); "
                f"flood answers by status: {result.flood_statuses}"
            )
    if args.json:
        document = [{**asdict(r), "p99_ratio": r.p99_ratio} for r in results]
        print(json.dumps({"command": spec.argv, "results": document}, indent=2))
    return 0 if all(r.p99_ratio <= 3 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
