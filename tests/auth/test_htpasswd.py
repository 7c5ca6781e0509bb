"""The htpasswd user file: bcrypt only, reloads, timing safety, verification cache."""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path
from unittest import mock

import bcrypt
import pytest
from auth_helpers import write_htpasswd

from dockyard.auth import htpasswd as htpasswd_module
from dockyard.auth.errors import AuthConfigError
from dockyard.auth.htpasswd import HtpasswdFile, parse_htpasswd


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    return write_htpasswd(tmp_path / "htpasswd", {"alice": "wonderland", "bob": "builder"})


async def test_correct_password_verifies(users_file: Path) -> None:
    assert await HtpasswdFile(users_file).verify("alice", "wonderland")


async def test_wrong_password_is_refused(users_file: Path) -> None:
    assert not await HtpasswdFile(users_file).verify("alice", "builder")


async def test_unknown_user_is_refused(users_file: Path) -> None:
    assert not await HtpasswdFile(users_file).verify("mallory", "wonderland")


async def test_2y_and_2a_prefixes_are_accepted(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()
    path = tmp_path / "htpasswd"
    path.write_text(f"y:{hashed.replace('$2b$', '$2y$')}\na:{hashed.replace('$2b$', '$2a$')}\n")
    users = HtpasswdFile(path)
    assert await users.verify("y", "pw")
    assert await users.verify("a", "pw")


def test_md5_entry_is_refused_naming_its_line_while_others_are_kept() -> None:
    text = "# users\nalice:$2y$05$" + "a" * 53 + "\nbob:$apr1$abc$def\n"
    parsed = parse_htpasswd(text)
    assert list(parsed.entries) == ["alice"]
    assert len(parsed.refused) == 1
    assert re.match(r"line 3.*'bob'.*MD5", parsed.refused[0])


@pytest.mark.parametrize(
    ("entry", "kind"),
    [
        ("carol:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "SHA1"),
        ("carol:plaintext", "not a bcrypt hash"),
        ("carol:$6$salt$hash", "crypt"),
        ("carol:abJnggxhB/yWI", "crypt"),
        ("carol:", "not a bcrypt hash"),
    ],
)
def test_non_bcrypt_hash_kinds_are_refused(entry: str, kind: str) -> None:
    parsed = parse_htpasswd(entry)
    assert parsed.entries == {}
    assert parsed.refused[0].startswith("line 1")
    assert kind in parsed.refused[0]


def test_line_without_colon_is_refused() -> None:
    assert parse_htpasswd("\njustaname\n").refused == ("line 2 is not of the form user:hash",)


def test_second_line_of_a_user_is_refused_and_the_first_counts() -> None:
    first, second = "alice:$2y$05$" + "a" * 53, "alice:$2y$05$" + "b" * 53
    parsed = parse_htpasswd(f"{first}\n{second}\n")
    assert parsed.entries == {"alice": first.split(":", 1)[1].encode()}
    assert parsed.refused == ("line 2: user 'alice' already appears on line 1",)


def test_refusal_never_contains_the_hash() -> None:
    secret_hash = "$apr1$s3cr3tsalt$s3cr3thashvalue"
    assert "s3cr3t" not in "".join(parse_htpasswd(f"alice:{secret_hash}").refused)


def test_missing_file_is_a_start_up_error(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="cannot read the htpasswd file") as info:
        HtpasswdFile(tmp_path / "nope", key="auth.htpasswd.path")
    assert info.value.key == "auth.htpasswd.path"


async def test_file_is_reread_when_it_changes(users_file: Path) -> None:
    users = HtpasswdFile(users_file, check_interval=0)
    assert not await users.verify("carol", "cat")
    write_htpasswd(users_file, {"carol": "cat"})
    os.utime(users_file, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert await users.verify("carol", "cat")
    assert not await users.verify("alice", "wonderland")


async def test_removed_user_loses_a_cached_verification(users_file: Path) -> None:
    users = HtpasswdFile(users_file, check_interval=0)
    assert await users.verify("alice", "wonderland")
    write_htpasswd(users_file, {"bob": "builder"})
    assert not await users.verify("alice", "wonderland")


async def test_unusable_line_in_an_edit_refuses_only_its_user(users_file: Path) -> None:
    users = HtpasswdFile(users_file, check_interval=0)
    bob = users_file.read_text().splitlines()[1]
    users_file.write_text(f"alice:$apr1$x$y\n{bob}\n")
    assert await users.verify("bob", "builder")
    assert not await users.verify("alice", "wonderland")


async def test_file_is_not_restatted_within_the_check_interval(users_file: Path) -> None:
    users = HtpasswdFile(users_file, check_interval=3600)
    write_htpasswd(users_file, {"carol": "cat"})
    assert not await users.verify("carol", "cat")


async def test_successful_verification_is_cached(users_file: Path) -> None:
    users = HtpasswdFile(users_file)
    assert await users.verify("alice", "wonderland")
    with mock.patch.object(htpasswd_module, "_checkpw", side_effect=AssertionError("bcrypt ran")):
        assert await users.verify("alice", "wonderland")


async def test_cache_does_not_accept_a_different_password(users_file: Path) -> None:
    users = HtpasswdFile(users_file)
    assert await users.verify("alice", "wonderland")
    assert not await users.verify("alice", "wonderland!")


async def test_cached_verification_expires(users_file: Path) -> None:
    users = HtpasswdFile(users_file, cache_ttl=0.01)
    assert await users.verify("alice", "wonderland")
    await asyncio.sleep(0.02)
    with mock.patch.object(htpasswd_module, "_checkpw", return_value=False) as check:
        assert not await users.verify("alice", "wonderland")
    check.assert_called_once()


async def test_failed_verification_is_not_cached(users_file: Path) -> None:
    users = HtpasswdFile(users_file)
    assert not await users.verify("alice", "nope")
    with mock.patch.object(htpasswd_module, "_checkpw", return_value=False) as check:
        await users.verify("alice", "nope")
    check.assert_called_once()


async def test_unknown_user_still_costs_a_bcrypt_check(users_file: Path) -> None:
    users = HtpasswdFile(users_file)
    with mock.patch.object(htpasswd_module, "_checkpw", return_value=False) as check:
        assert not await users.verify("nobody", "x")
    check.assert_called_once()
    assert check.call_args.args[1].startswith(b"$2b$04$")  # a user's hash, at its cost


async def test_unknown_user_takes_about_as_long_as_a_known_one(tmp_path: Path) -> None:
    users = HtpasswdFile(write_htpasswd(tmp_path / "h", {"alice": "pw"}, rounds=10))

    async def timed(user: str) -> float:
        started = time.perf_counter()
        await users.verify(user, "wrong")
        return time.perf_counter() - started

    # Interleaved, so that a burst of load on a shared machine hits both alike.
    known, unknown = [], []
    for _ in range(4):
        known.append(await timed("alice"))
        unknown.append(await timed("nobody"))
    assert min(unknown) > min(known) * 0.5


async def test_concurrent_checks_of_the_same_credentials_share_one_bcrypt_run(
    users_file: Path,
) -> None:
    users = HtpasswdFile(users_file)
    real = htpasswd_module._checkpw
    with mock.patch.object(htpasswd_module, "_checkpw", side_effect=real) as check:
        results = await asyncio.gather(*(users.verify("alice", "wonderland") for _ in range(10)))
    assert all(results)
    assert check.call_count == 1


async def test_bcrypt_runs_off_the_event_loop(users_file: Path) -> None:
    users = HtpasswdFile(write_htpasswd(users_file, {"alice": "pw"}, rounds=10))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    await users.verify("alice", "wrong")
    task.cancel()
    assert ticks >= 5


async def test_password_longer_than_bcrypt_allows_is_refused(users_file: Path) -> None:
    assert not await HtpasswdFile(users_file).verify("alice", "x" * 100)


async def test_fingerprint_changes_with_the_password(users_file: Path) -> None:
    users = HtpasswdFile(users_file, check_interval=0)
    before = await users.fingerprint("alice")
    write_htpasswd(users_file, {"alice": "changed"})
    after = await users.fingerprint("alice")
    assert before is not None
    assert after is not None
    assert before != after
    assert await users.fingerprint("nobody") is None
