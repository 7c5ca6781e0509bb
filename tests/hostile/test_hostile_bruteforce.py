"""Password guessing: failed attempts are limited per client address and per user name
(429 ``TOOMANYREQUESTS`` with ``Retry-After``), before any bcrypt work; the tables stay
bounded; bcrypt runs on threads of its own with a bounded queue."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import threading
import tracemalloc
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from unittest import mock

import httpx
import pytest
from api_helpers import SECRET
from auth_helpers import ISSUER, REALM, SERVICE, basic, build_authorizer, write_htpasswd

from dockyard import assembly
from dockyard.api.app import create_app
from dockyard.api.settings import ApiSettings
from dockyard.auth import htpasswd as htpasswd_module
from dockyard.auth.basic import HtpasswdAuthorizer
from dockyard.auth.htpasswd import HtpasswdFile
from dockyard.auth.ratelimit import (
    ENTRY_BYTES,
    AttemptLimiter,
    AttemptPolicy,
    TooManyAttempts,
    client_address,
)
from dockyard.config import from_dict
from dockyard.storage.driver.inmemory import InMemoryDriver
from dockyard.storage.registry import StorageRegistry

POLICY = AttemptPolicy(attempts=3, window=60, lockout=120, max_entries=100)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def users(tmp_path: Path, clock: Clock) -> HtpasswdFile:
    path = write_htpasswd(tmp_path / "htpasswd", {"alice": "right", "bob": "builder"})
    return HtpasswdFile(path, limiter=AttemptLimiter(POLICY, clock=clock))


@pytest.fixture
async def from_address(
    users: HtpasswdFile,
) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """Clients of one registry app, each connecting from the address it is given."""
    app = create_app(
        StorageRegistry(InMemoryDriver()),
        ApiSettings(secret=SECRET),
        HtpasswdAuthorizer("dockyard", users),
    )
    opened: list[httpx.AsyncClient] = []

    def build(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://registry.test")
        opened.append(client)
        return client

    yield build
    for client in opened:
        await client.aclose()


async def attempt(client: httpx.AsyncClient, user: str, password: str) -> httpx.Response:
    return await client.get("/v2/", headers={"authorization": basic(user, password)})


def assert_too_many(response: httpx.Response, retry_after: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["retry-after"] == str(retry_after)
    error = response.json()["errors"][0]
    assert error["code"] == "TOOMANYREQUESTS"
    assert error["detail"] == {"retryAfter": retry_after}


async def test_an_address_is_locked_out_after_too_many_failures(
    from_address: Callable[[str], httpx.AsyncClient],
) -> None:
    attacker = from_address("203.0.113.7")
    for user in ("alice", "bob", "carol"):
        assert (await attempt(attacker, user, "guess")).status_code == 401
    assert_too_many(await attempt(attacker, "bob", "builder"), 120)


async def test_other_addresses_are_not_locked_out_by_one_address(
    from_address: Callable[[str], httpx.AsyncClient],
) -> None:
    attacker = from_address("203.0.113.7")
    for user in ("carol", "dave", "erin"):
        await attempt(attacker, user, "guess")
    assert (await attempt(from_address("198.51.100.1"), "bob", "builder")).status_code == 200


async def test_a_user_name_is_locked_out_after_failures_from_many_addresses(
    from_address: Callable[[str], httpx.AsyncClient],
) -> None:
    for n in range(3):
        response = await attempt(from_address(f"203.0.113.{n}"), "alice", "guess")
        assert response.status_code == 401
    assert_too_many(await attempt(from_address("198.51.100.1"), "alice", "right"), 120)


async def test_a_lockout_ends_after_its_time(
    from_address: Callable[[str], httpx.AsyncClient], clock: Clock
) -> None:
    client = from_address("203.0.113.7")
    for _ in range(3):
        await attempt(client, "alice", "guess")
    clock.now += 60
    assert_too_many(await attempt(client, "alice", "right"), 60)
    clock.now += 61
    assert (await attempt(client, "alice", "right")).status_code == 200


async def test_failures_outside_the_window_do_not_add_up(
    from_address: Callable[[str], httpx.AsyncClient], clock: Clock
) -> None:
    client = from_address("203.0.113.7")
    for _ in range(2):
        await attempt(client, "alice", "guess")
    clock.now += 61
    assert (await attempt(client, "alice", "guess")).status_code == 401
    assert (await attempt(client, "alice", "right")).status_code == 200


async def test_a_lockout_refuses_before_any_bcrypt_work(
    from_address: Callable[[str], httpx.AsyncClient],
) -> None:
    client = from_address("203.0.113.7")
    for _ in range(3):
        await attempt(client, "alice", "guess")
    with mock.patch.object(htpasswd_module, "_checkpw", side_effect=AssertionError("bcrypt")):
        assert (await attempt(client, "alice", "another guess")).status_code == 429


async def test_recently_verified_credentials_still_work_during_a_lockout(
    from_address: Callable[[str], httpx.AsyncClient],
) -> None:
    alice = from_address("198.51.100.1")
    assert (await attempt(alice, "alice", "right")).status_code == 200
    for n in range(3):
        await attempt(from_address(f"203.0.113.{n}"), "alice", "guess")
    assert (await attempt(alice, "alice", "right")).status_code == 200
    assert (await attempt(alice, "alice", "guess")).status_code == 429


async def test_a_success_starts_the_user_count_again(
    from_address: Callable[[str], httpx.AsyncClient],
) -> None:
    for n in range(2):
        await attempt(from_address(f"203.0.113.{n}"), "alice", "guess")
    assert (await attempt(from_address("198.51.100.1"), "alice", "right")).status_code == 200
    for n in range(2):
        response = await attempt(from_address(f"203.0.113.{10 + n}"), "alice", "guess")
        assert response.status_code == 401


def test_tables_stay_bounded_in_entries_and_bytes() -> None:
    limiter = AttemptLimiter(AttemptPolicy(attempts=5, max_entries=1000))
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for n in range(20_000):
            limiter.failed("u" * 4096 + str(n), f"2001:db8::{n:x}")
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert len(limiter.users) == 1000
    assert len(limiter.addresses) == 1000
    assert grown < 2 * 1000 * ENTRY_BYTES


async def test_token_server_answers_429_with_retry_after(
    tmp_path: Path, hostile_client: Callable[..., httpx.AsyncClient]
) -> None:
    path = write_htpasswd(tmp_path / "htpasswd", {"alice": "right"})
    authorizer = build_authorizer(
        {
            "token": {"realm": REALM, "service": SERVICE, "issuer": ISSUER},
            "tokenserver": {"htpasswd": str(path)},
            "ratelimit": {"attempts": 3, "window": "60s", "lockout": "120s", "maxentries": 100},
        },
        data_dir=tmp_path,
    )
    assert authorizer is not None
    client = hostile_client(authorizer)
    for _ in range(3):
        response = await client.get("/auth/token", headers={"authorization": basic("x", "y")})
        assert response.status_code == 401
    response = await client.get("/auth/token", headers={"authorization": basic("alice", "right")})
    assert_too_many(response, 120)
    form = {"grant_type": "password", "username": "alice", "password": "right"}
    assert_too_many(await client.post("/auth/token", data=form), 120)


def test_auth_ratelimit_configures_the_authorizer(tmp_path: Path) -> None:
    path = write_htpasswd(tmp_path / "htpasswd", {"alice": "right"})
    config = from_dict(
        {
            "version": 0.1,
            "storage": {"inmemory": {}},
            "auth": {
                "htpasswd": {"path": str(path)},
                "ratelimit": {"attempts": 4, "window": "2m", "lockout": "15m", "maxentries": 50},
            },
        }
    )
    authorizer = assembly.build_authorizer(config)
    assert isinstance(authorizer, HtpasswdAuthorizer)
    assert authorizer.users.limiter.policy == AttemptPolicy(4, 120.0, 900.0, 50)
    assert not [w for w in config.warnings if w.startswith("auth")]


async def test_bcrypt_runs_on_its_own_threads(users: HtpasswdFile) -> None:
    threads: list[str] = []
    real = htpasswd_module._checkpw

    def recording(password: str, hashed: bytes) -> bool:
        threads.append(threading.current_thread().name)
        return real(password, hashed)

    with mock.patch.object(htpasswd_module, "_checkpw", side_effect=recording):
        await users.verify("alice", "guess")
    assert threads
    assert threads[0].startswith("bcrypt")


async def test_password_checks_beyond_the_queue_are_refused_at_once(
    users: HtpasswdFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(htpasswd_module, "MAX_WAITING_CHECKS", 1)
    results = await asyncio.gather(
        users.verify("alice", "guess one"),
        users.verify("bob", "guess two"),
        return_exceptions=True,
    )
    assert results[0] is False
    assert isinstance(results[1], TooManyAttempts)


async def test_bcrypt_threads_yield_the_cpu_to_serving_threads(users: HtpasswdFile) -> None:
    niceness: list[int] = []
    real = htpasswd_module._checkpw

    def recording(password: str, hashed: bytes) -> bool:
        niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return real(password, hashed)

    with mock.patch.object(htpasswd_module, "_checkpw", side_effect=recording):
        await users.verify("alice", "guess")
    serving = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert niceness[0] > serving


@pytest.fixture
def behind_proxy(tmp_path: Path, clock: Clock) -> HtpasswdFile:
    path = write_htpasswd(tmp_path / "proxied", {"alice": "right", "bob": "builder"})
    trusted = AttemptPolicy(
        attempts=3, window=60, lockout=120, trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),)
    )
    return HtpasswdFile(path, limiter=AttemptLimiter(trusted, clock=clock))


async def attempt_via(
    users: HtpasswdFile, peer: str, forwarded_for: str, user: str, password: str
) -> int:
    app = create_app(
        StorageRegistry(InMemoryDriver()),
        ApiSettings(secret=SECRET),
        HtpasswdAuthorizer("dockyard", users),
    )
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as client:
        headers = {"authorization": basic(user, password), "x-forwarded-for": forwarded_for}
        return (await client.get("/v2/", headers=headers)).status_code


async def test_clients_behind_a_trusted_proxy_are_counted_apart(
    behind_proxy: HtpasswdFile,
) -> None:
    for user in ("carol", "dave", "erin"):
        assert await attempt_via(behind_proxy, "10.0.0.2", "203.0.113.7", user, "x") == 401
    assert await attempt_via(behind_proxy, "10.0.0.2", "203.0.113.7", "bob", "builder") == 429
    assert await attempt_via(behind_proxy, "10.0.0.2", "198.51.100.1", "bob", "builder") == 200


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    behind_proxy: HtpasswdFile,
) -> None:
    for n, user in enumerate(("carol", "dave", "erin")):
        status = await attempt_via(behind_proxy, "203.0.113.7", f"192.0.2.{n}", user, "x")
        assert status == 401
    assert await attempt_via(behind_proxy, "203.0.113.7", "192.0.2.99", "bob", "builder") == 429


@pytest.mark.parametrize(
    ("forwarded_for", "counted"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("203.0.113.7, 10.0.0.9", "203.0.113.7"),
        ("192.0.2.1, 203.0.113.7", "203.0.113.7"),
        ("not-an-address", "10.0.0.2"),
        ("", "10.0.0.2"),
    ],
)
def test_the_client_is_the_last_untrusted_forwarded_hop(forwarded_for: str, counted: str) -> None:
    trusted = (ipaddress.ip_network("10.0.0.0/8"),)
    assert client_address("10.0.0.2", forwarded_for, trusted) == counted


def test_trusted_proxies_must_be_addresses_or_networks(tmp_path: Path) -> None:
    from dockyard.config import ConfigError

    tree = {
        "version": 0.1,
        "storage": {"inmemory": {}},
        "auth": {"ratelimit": {"trustedproxies": ["10.0.0.0/8", "proxy.example"]}},
    }
    with pytest.raises(ConfigError, match=r"trustedproxies\[1\]: not an IP address or network"):
        from_dict(tree)
