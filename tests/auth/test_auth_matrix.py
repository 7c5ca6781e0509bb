"""Users x repositories x actions x endpoints, through the real API app, in both modes.

Each request is either let through (any status but 401/403: the handler ran) or refused
exactly as the configuration says, anonymous callers and wrong passwords included.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from auth_helpers import ISSUER, REALM, SERVICE, build_authorizer, docker_like, write_htpasswd

from dockyard.auth.base import Authorizer

PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}
CALLERS: dict[str, tuple[str, str] | None] = {
    "alice": ("alice", "alice-pw"),
    "bob": ("bob", "bob-pw"),
    "carol": ("carol", "carol-pw"),
    "anonymous": None,
    "alice-wrong-password": ("alice", "bob-pw"),
}
REPOSITORIES = ["alice/app", "bob/app", "team/app", "public/app", "private/app"]
DIGEST = "sha256:" + "0" * 64
#: (label, action, method, path template)
ENDPOINTS = [
    ("tags", "pull", "GET", "/v2/{repo}/tags/list"),
    ("manifest-head", "pull", "HEAD", "/v2/{repo}/manifests/latest"),
    ("blob-get", "pull", "GET", "/v2/{repo}/blobs/" + DIGEST),
    ("upload-start", "push", "POST", "/v2/{repo}/blobs/uploads/"),
    ("manifest-put", "push", "PUT", "/v2/{repo}/manifests/latest"),
    ("manifest-delete", "delete", "DELETE", "/v2/{repo}/manifests/" + DIGEST),
    ("blob-delete", "delete", "DELETE", "/v2/{repo}/blobs/" + DIGEST),
]
RULES: list[dict[str, Any]] = [
    {"repositories": "${user}/**", "users": ["*"], "actions": ["pull", "push", "delete"]},
    {"repositories": "team/**", "groups": ["devs"], "actions": ["pull", "push"]},
    {
        "repositories": ["team/**", "public/**"],
        "users": ["*"],
        "anonymous": True,
        "actions": ["pull"],
    },
    {"registry": "catalog", "users": ["alice"], "actions": ["*"]},
]


def token_rules_allow(caller: str, repo: str, action: str) -> bool:
    """What RULES mean, written out by hand."""
    if caller == "alice-wrong-password":
        return False
    if caller == "anonymous":
        return action == "pull" and repo.split("/")[0] in ("team", "public")
    namespace = repo.split("/")[0]
    if namespace == caller:
        return True
    if namespace == "team" and caller == "carol":
        return action in ("pull", "push")
    return namespace in ("team", "public") and action == "pull"


def htpasswd_allows(caller: str) -> bool:
    return caller in PASSWORDS


@pytest.fixture
def htpasswd_client(
    tmp_path: Path, app_client: Callable[[Authorizer | None], httpx.AsyncClient]
) -> httpx.AsyncClient:
    users = write_htpasswd(tmp_path / "htpasswd", PASSWORDS)
    return app_client(
        build_authorizer({"htpasswd": {"realm": "dockyard", "path": str(users)}}, data_dir=tmp_path)
    )


@pytest.fixture
def token_client(
    tmp_path: Path, app_client: Callable[[Authorizer | None], httpx.AsyncClient]
) -> httpx.AsyncClient:
    users = write_htpasswd(tmp_path / "htpasswd", PASSWORDS)
    section = {
        "token": {"realm": REALM, "service": SERVICE, "issuer": ISSUER},
        "tokenserver": {"htpasswd": str(users), "groups": {"devs": ["carol"]}, "rules": RULES},
    }
    return app_client(build_authorizer(section, data_dir=tmp_path / "data"))


def passed_authorization(response: httpx.Response) -> bool:
    return response.status_code not in (401, 403)


async def htpasswd_request(
    client: httpx.AsyncClient, method: str, path: str, caller: str
) -> httpx.Response:
    credentials = CALLERS[caller]
    return await client.request(method, path, auth=credentials or None)


CASES = [
    pytest.param(
        caller, repo, action, method, path.format(repo=repo), id=f"{caller}-{repo}-{label}"
    )
    for caller in CALLERS
    for repo in REPOSITORIES
    for label, action, method, path in ENDPOINTS
]


@pytest.mark.parametrize(("caller", "repo", "action", "method", "path"), CASES)
async def test_htpasswd_mode(
    htpasswd_client: httpx.AsyncClient, caller: str, repo: str, action: str, method: str, path: str
) -> None:
    response = await htpasswd_request(htpasswd_client, method, path, caller)
    assert passed_authorization(response) == htpasswd_allows(caller), response.text
    if not htpasswd_allows(caller):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Basic realm="dockyard"'


@pytest.mark.parametrize(("caller", "repo", "action", "method", "path"), CASES)
async def test_token_mode(
    token_client: httpx.AsyncClient, caller: str, repo: str, action: str, method: str, path: str
) -> None:
    response = await docker_like(token_client, method, path, CALLERS[caller])
    assert passed_authorization(response) == token_rules_allow(caller, repo, action), response.text
    if not token_rules_allow(caller, repo, action):
        assert response.status_code == 401


@pytest.mark.parametrize("caller", list(CALLERS))
async def test_htpasswd_mode_base_and_catalog(
    htpasswd_client: httpx.AsyncClient, caller: str
) -> None:
    for path in ("/v2/", "/v2/_catalog"):
        response = await htpasswd_request(htpasswd_client, "GET", path, caller)
        assert passed_authorization(response) == htpasswd_allows(caller)


@pytest.mark.parametrize("caller", list(CALLERS))
async def test_token_mode_base_endpoint(token_client: httpx.AsyncClient, caller: str) -> None:
    response = await docker_like(token_client, "GET", "/v2/", CALLERS[caller])
    assert passed_authorization(response) == (caller != "alice-wrong-password")


@pytest.mark.parametrize("caller", list(CALLERS))
async def test_token_mode_catalog(token_client: httpx.AsyncClient, caller: str) -> None:
    response = await docker_like(token_client, "GET", "/v2/_catalog", CALLERS[caller])
    assert passed_authorization(response) == (caller == "alice")
