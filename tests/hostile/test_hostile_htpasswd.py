"""The htpasswd file under hostile edits: a removal always takes effect, unusable lines
are refused by line number while the others work, a missing or unreadable file lets
nobody in (and keeps saying so), and refresh tokens follow the current file."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import bcrypt
import httpx
import pytest
from auth_helpers import ISSUER, REALM, SERVICE, basic, build_authorizer, write_htpasswd

from dockyard.auth import htpasswd as htpasswd_module
from dockyard.auth.base import Authorizer
from dockyard.auth.basic import HtpasswdAuthorizer
from dockyard.auth.htpasswd import HtpasswdFile

ClientFactory = Callable[..., httpx.AsyncClient]
USERS = {"alice": "wonderland", "bob": "builder"}
MD5_LINE = "carol:$apr1$Ryu7xoV2$Jm2XG4tWxxn2ZrYWgUcKD."


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    return write_htpasswd(tmp_path / "htpasswd", USERS)


@pytest.fixture
def client(users_file: Path, hostile_client: ClientFactory) -> httpx.AsyncClient:
    """The registry behind htpasswd, looking at the file on every request."""
    users = HtpasswdFile(users_file, check_interval=0)
    return hostile_client(HtpasswdAuthorizer("dockyard", users))


async def status_as(client: httpx.AsyncClient, user: str) -> int:
    response = await client.get("/v2/", headers={"authorization": basic(user, USERS[user])})
    return response.status_code


def bcrypt_line(user: str) -> str:
    hashed = bcrypt.hashpw(USERS[user].encode(), bcrypt.gensalt(4)).decode()
    return f"{user}:{hashed}"


async def test_removed_user_is_refused_when_the_edit_also_adds_an_md5_line(
    client: httpx.AsyncClient, users_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert await status_as(client, "alice") == 200
    users_file.write_text(f"{bcrypt_line('bob')}\n{MD5_LINE}\n")
    assert await status_as(client, "alice") == 401
    assert await status_as(client, "bob") == 200
    assert "refused line 2: the entry for user 'carol' is an MD5" in caplog.text


async def test_deleted_file_lets_nobody_in(
    client: httpx.AsyncClient, users_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert await status_as(client, "alice") == 200
    users_file.unlink()
    assert await status_as(client, "alice") == 401
    assert await status_as(client, "bob") == 401
    assert "nobody can log in" in caplog.text


async def test_moved_file_lets_nobody_in(client: httpx.AsyncClient, users_file: Path) -> None:
    assert await status_as(client, "bob") == 200
    users_file.rename(users_file.with_name("elsewhere"))
    assert await status_as(client, "bob") == 401


async def test_unreadable_file_lets_nobody_in(client: httpx.AsyncClient, users_file: Path) -> None:
    assert await status_as(client, "bob") == 200
    users_file.unlink()
    users_file.mkdir()  # unreadable as a file, even for root
    assert await status_as(client, "bob") == 401


async def test_file_coming_back_lets_its_users_in_again(
    client: httpx.AsyncClient, users_file: Path
) -> None:
    saved = users_file.read_text()
    users_file.unlink()
    assert await status_as(client, "bob") == 401
    users_file.write_text(saved)
    assert await status_as(client, "bob") == 200


async def test_missing_file_is_logged_again_while_requests_keep_checking(
    client: httpx.AsyncClient,
    users_file: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(htpasswd_module, "UNAVAILABLE_LOG_INTERVAL", 0.0)
    users_file.unlink()
    with caplog.at_level(logging.ERROR, logger="dockyard.auth.htpasswd"):
        for _ in range(3):
            assert await status_as(client, "bob") == 401
    reports = [r for r in caplog.records if "nobody can log in" in r.getMessage()]
    assert len(reports) == 3


async def test_missing_file_is_not_logged_on_every_request_within_the_interval(
    client: httpx.AsyncClient, users_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    users_file.unlink()
    with caplog.at_level(logging.ERROR, logger="dockyard.auth.htpasswd"):
        for _ in range(5):
            await status_as(client, "bob")
    assert len([r for r in caplog.records if "nobody can log in" in r.getMessage()]) == 1


@pytest.fixture
def token_client(
    tmp_path: Path, users_file: Path, hostile_client: ClientFactory
) -> tuple[httpx.AsyncClient, Authorizer]:
    authorizer = build_authorizer(
        {
            "token": {"realm": REALM, "service": SERVICE, "issuer": ISSUER},
            "tokenserver": {"htpasswd": str(users_file)},
        },
        data_dir=tmp_path,
    )
    return hostile_client(authorizer), authorizer


async def refresh_token(client: httpx.AsyncClient) -> str:
    response = await client.post(
        "/auth/token",
        data={
            "grant_type": "password",
            "service": SERVICE,
            "username": "alice",
            "password": USERS["alice"],
            "access_type": "offline",
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["refresh_token"]
    return token


async def redeem(client: httpx.AsyncClient, token: str) -> int:
    response = await client.post(
        "/auth/token",
        data={"grant_type": "refresh_token", "service": SERVICE, "refresh_token": token},
    )
    return response.status_code


@pytest.mark.parametrize("edit", ["remove the user", "delete the file", "make the line md5"])
async def test_refresh_token_follows_the_current_file(
    token_client: tuple[httpx.AsyncClient, Authorizer],
    users_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    edit: str,
) -> None:
    client, _ = token_client
    token = await refresh_token(client)
    assert await redeem(client, token) == 200
    if edit == "remove the user":
        users_file.write_text(bcrypt_line("bob") + "\n")
    elif edit == "delete the file":
        shutil.move(users_file, users_file.with_name("gone"))
    else:
        users_file.write_text(
            f"alice:$apr1$Ryu7xoV2$Jm2XG4tWxxn2ZrYWgUcKD.\n{bcrypt_line('bob')}\n"
        )
    # The token server's file is checked at most once a second: look now.
    monkeypatch.setattr(HtpasswdFile, "refresh", _forced(HtpasswdFile.refresh))
    assert await redeem(client, token) == 401


def _forced(refresh: Callable[..., object]) -> Callable[..., object]:
    async def forced(self: HtpasswdFile, *, force: bool = False) -> None:
        await refresh(self, force=True)  # type: ignore[misc]

    return forced
