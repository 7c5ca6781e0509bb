"""User names cannot be told apart by timing: an unknown name is checked against a hash
of one of the file's users (so at a cost real users have), always the same for the same
name, and at the current file's costs after every reload."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import bcrypt
import pytest

from dockyard.auth import htpasswd as htpasswd_module
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


@pytest.fixture
def costs_checked() -> Iterator[list[int]]:
    """The bcrypt cost of every hash a password is checked against, in order."""
    seen: list[int] = []
    real = htpasswd_module._checkpw

    def recording(password: str, hashed: bytes) -> bool:
        seen.append(int(hashed[4:6]))
        return real(password, hashed)

    with mock.patch.object(htpasswd_module, "_checkpw", side_effect=recording):
        yield seen


async def cost_of(users: HtpasswdFile, name: str, costs_checked: list[int]) -> int:
    assert not await users.verify(name, "wrong")
    return costs_checked[-1]


async def test_unknown_names_are_checked_at_the_costs_of_real_users(
    tmp_path: Path, costs_checked: list[int]
) -> None:
    path = tmp_path / "htpasswd"
    write(path, {"cheap": CHEAP, "dear": DEAR})
    users = unlimited(path)
    seen = {await cost_of(users, name, costs_checked) for name in UNKNOWN}
    assert seen == {CHEAP, DEAR}


async def test_an_unknown_name_is_always_checked_at_the_same_cost(
    tmp_path: Path, costs_checked: list[int]
) -> None:
    path = tmp_path / "htpasswd"
    write(path, {"cheap": CHEAP, "dear": DEAR})
    users = unlimited(path)
    for name in UNKNOWN[:4]:
        assert len({await cost_of(users, name, costs_checked) for _ in range(3)}) == 1


async def test_unknown_names_follow_the_costs_after_a_reload(
    tmp_path: Path, costs_checked: list[int]
) -> None:
    path = tmp_path / "htpasswd"
    write(path, {"cheap": CHEAP})
    users = unlimited(path)
    assert await cost_of(users, "nobody", costs_checked) == CHEAP
    write(path, {"dear": DEAR})
    assert {await cost_of(users, name, costs_checked) for name in UNKNOWN[:4]} == {DEAR}


async def seconds(users: HtpasswdFile, name: str, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        assert not await users.verify(name, "wrong")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def test_an_unknown_name_takes_as_long_as_a_real_users_wrong_password(
    tmp_path: Path,
) -> None:
    path = tmp_path / "htpasswd"
    write(path, {"cheap": CHEAP})
    users = unlimited(path)
    cheap = await seconds(users, "cheap")
    write(path, {"dear": DEAR})  # the reload the old fixed dummy hash never followed
    dear = await seconds(users, "dear")
    assert dear > 8 * cheap, "the two costs must be told apart for this test to mean anything"
    unknown = min([await seconds(users, name, runs=1) for name in UNKNOWN[:3]])
    assert unknown > (cheap * dear) ** 0.5
