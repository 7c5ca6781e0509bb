"""No password or token ever reaches a log record, whatever happens during auth."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from auth_helpers import ISSUER, REALM, SERVICE, basic, build_authorizer, write_htpasswd

PASSWORD = "correct-horse-battery-staple"
WRONG = "Tr0ub4dor&3-wrong"


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        lines = []
        for record in self.records:
            lines.append(record.getMessage())
            lines.append(repr(record.args))
            if record.exc_info:
                lines.append(logging.Formatter().formatException(record.exc_info))
        return "\n".join(lines)


@pytest.fixture
def logs() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def assert_absent(logs: Capture, secrets: list[str]) -> None:
    text = logs.text()
    assert logs.records, "the flows should have logged something"
    for secret in secrets:
        assert secret not in text


async def test_htpasswd_flows_log_no_passwords(
    tmp_path: Path, logs: Capture, app_client: Callable[..., httpx.AsyncClient]
) -> None:
    users = write_htpasswd(tmp_path / "htpasswd", {"alice": PASSWORD})
    client = app_client(
        build_authorizer({"htpasswd": {"path": str(users)}}, data_dir=tmp_path), access_log=True
    )
    await client.get("/v2/", auth=("alice", PASSWORD))
    await client.get("/v2/", auth=("alice", WRONG))
    await client.get("/v2/", auth=("mallory", WRONG))
    await client.get("/v2/", headers={"authorization": "Basic !!notbase64"})
    encoded = [
        base64.b64encode(f"{u}:{p}".encode()).decode()
        for u in ("alice", "mallory")
        for p in (PASSWORD, WRONG)
    ]
    assert_absent(logs, [PASSWORD, WRONG, *encoded])


async def test_token_flows_log_no_passwords_or_tokens(
    tmp_path: Path, logs: Capture, app_client: Callable[..., httpx.AsyncClient]
) -> None:
    users = write_htpasswd(tmp_path / "htpasswd", {"alice": PASSWORD})
    section = {
        "token": {"realm": REALM, "service": SERVICE, "issuer": ISSUER},
        "tokenserver": {
            "htpasswd": str(users),
            "rules": [{"repositories": "**", "users": ["*"], "actions": ["*"]}],
        },
    }
    client = app_client(build_authorizer(section, data_dir=tmp_path / "d"), access_log=True)
    scope = {"service": SERVICE, "scope": "repository:a/b:pull", "offline_token": "true"}
    issued = (
        await client.get(
            "/auth/token", params=scope, headers={"authorization": basic("alice", PASSWORD)}
        )
    ).json()
    await client.get("/auth/token", params=scope, headers={"authorization": basic("alice", WRONG)})
    posted = (
        await client.post(
            "/auth/token",
            data={
                "grant_type": "password",
                "username": "alice",
                "password": PASSWORD,
                "service": SERVICE,
                "access_type": "offline",
            },
        )
    ).json()
    await client.post(
        "/auth/token", data={"grant_type": "password", "username": "alice", "password": WRONG}
    )
    refreshed = (
        await client.post(
            "/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
        )
    ).json()
    await client.post(
        "/auth/token", data={"grant_type": "refresh_token", "refresh_token": issued["token"]}
    )
    for token in (issued["token"], refreshed["access_token"]):
        await client.get("/v2/a/b/tags/list", headers={"authorization": f"Bearer {token}"})
        await client.get("/v2/x/y/tags/list", headers={"authorization": f"Bearer {token}"})
        await client.get("/v2/a/b/tags/list", headers={"authorization": f"Bearer {token[:-3]}AAA"})
    secrets = [
        PASSWORD,
        WRONG,
        issued["token"],
        issued["refresh_token"],
        posted["access_token"],
        posted["refresh_token"],
        refreshed["access_token"],
    ]
    # Signatures alone are secrets too: a log line must not carry any part of one.
    secrets += [t.rsplit(".", 1)[1] for t in secrets[2:]]
    assert_absent(logs, secrets)
