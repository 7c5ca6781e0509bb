"""User names cannot be told apart by timing: an unknown name costs what a real user's
wrong password costs, whatever bcrypt costs the file mixes, and after every reload."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import bcrypt

from dockyard.auth.htpasswd import HtpasswdFile
from dockyard.auth.ratelimit import AttemptLimiter, AttemptPolicy

CHEAP, DEAR = 4, 10
UNKNOWN = [f"nobody{i}" for i in range(16)]


def write(path: Path, costs: dict[str, int]) -> None:
    lines = [
        f"{user}:{bcrypt.hashpw(b'right', bcrypt.gensalt(cost)).decode()}"
        for user, cost in costs.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    stamp = time.time_ns() + 10**9
    os.utime(path, ns=(stamp, stamp))


def unlimited(path: Path) -> HtpasswdFile:
    return HtpasswdFile(path, check_interval=0, limiter=AttemptLimiter(AttemptPolicy(attempts=0)))


async def seconds(users: HtpasswdFile, name: str, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        assert not await users.verify(name, "wrong")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def test_unknown_names_cost_what_real_users_cost_when_costs_differ(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    write(path, {"cheap": CHEAP, "dear": DEAR})
    users = unlimited(path)
    cheap, dear = await seconds(users, "cheap"), await seconds(users, "dear")
    threshold = (cheap * dear) ** 0.5
    assert dear > 8 * cheap, "the two costs must be told apart for this test to mean anything"
    unknown = [await seconds(users, name, runs=1) for name in UNKNOWN]
    dear_like = sum(t > threshold for t in unknown)
    # Each unknown name stands in for one user of the file, so both costs show up.
    assert 0 < dear_like < len(UNKNOWN)


async def test_an_unknown_name_always_costs_the_same(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    write(path, {"cheap": CHEAP, "dear": DEAR})
    users = unlimited(path)
    threshold = ((await seconds(users, "cheap")) * (await seconds(users, "dear"))) ** 0.5
    for name in UNKNOWN[:4]:
        runs = [await seconds(users, name, runs=1) for _ in range(3)]
        assert len({t > threshold for t in runs}) == 1


async def test_unknown_names_follow_the_costs_after_a_reload(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    write(path, {"cheap": CHEAP})
    users = unlimited(path)
    write(path, {"dear": DEAR})
    dear = await seconds(users, "dear")
    unknown = [await seconds(users, name, runs=1) for name in UNKNOWN[:6]]
    assert min(unknown) > dear / 2
