"""The built-in token server: the GET and OAuth2 POST flows, refresh tokens, JWKS."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from auth_helpers import ISSUER, REALM, SERVICE, basic, build_authorizer, write_htpasswd
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dockyard.auth import b64url
from dockyard.auth.base import Authorizer
from dockyard.auth.keys import key_from_jwk

RULES: list[dict[str, Any]] = [
    {"repositories": "${user}/**", "users": ["*"], "actions": ["pull", "push", "delete"]},
    {"repositories": "public/*", "users": ["*"], "anonymous": True, "actions": ["pull"]},
    {"registry": "catalog", "users": ["alice"], "actions": ["*"]},
]


def config(tmp_path: Path, **server: Any) -> dict[str, Any]:
    users = tmp_path / "htpasswd"
    if not users.exists():
        write_htpasswd(users, {"alice": "wonderland", "bob": "builder"})
    return {
        "token": {"realm": REALM, "service": SERVICE, "issuer": ISSUER},
        "tokenserver": {"htpasswd": str(users), "rules": RULES, **server},
    }


@pytest.fixture
def client(
    tmp_path: Path, app_client: Callable[[Authorizer | None], httpx.AsyncClient]
) -> httpx.AsyncClient:
    return app_client(build_authorizer(config(tmp_path), data_dir=tmp_path / "data"))


def decode(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    head, body, _ = token.split(".")
    return json.loads(b64url.decode(head)), json.loads(b64url.decode(body))


async def get_token(
    client: httpx.AsyncClient, *scopes: str, auth: tuple[str, str] | None = None, **params: str
) -> httpx.Response:
    query: list[tuple[str, str | int | float | bool | None]] = [
        ("service", SERVICE),
        *(("scope", s) for s in scopes),
    ]
    query.extend(params.items())
    headers = {"authorization": basic(*auth)} if auth else {}
    return await client.get("/auth/token", params=query, headers=headers)


async def post_token(client: httpx.AsyncClient, **form: str) -> httpx.Response:
    return await client.post("/auth/token", data={"service": SERVICE, "client_id": "test", **form})


async def test_get_with_credentials_grants_the_allowed_scope(client: httpx.AsyncClient) -> None:
    response = await get_token(
        client, "repository:alice/app:pull,push", auth=("alice", "wonderland")
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token"] == body["access_token"]
    _, claims = decode(body["token"])
    assert claims["sub"] == "alice"
    assert claims["aud"] == SERVICE
    assert claims["iss"] == ISSUER
    assert claims["access"] == [
        {"type": "repository", "name": "alice/app", "actions": ["pull", "push"]}
    ]
    assert body["scope"] == "repository:alice/app:pull,push"


async def test_response_says_when_the_token_expires(client: httpx.AsyncClient) -> None:
    body = (await get_token(client, auth=("alice", "wonderland"))).json()
    assert body["expires_in"] == 300
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["issued_at"])
    _, claims = decode(body["token"])
    assert claims["exp"] - claims["iat"] == 300


async def test_token_responses_are_not_cached(client: httpx.AsyncClient) -> None:
    response = await get_token(client, auth=("alice", "wonderland"))
    assert response.headers["cache-control"] == "no-store"


async def test_get_grants_only_the_intersection(client: httpx.AsyncClient) -> None:
    response = await get_token(
        client,
        "repository:bob/app:pull,push",
        "repository:alice/app:delete",
        auth=("alice", "wonderland"),
    )
    _, claims = decode(response.json()["token"])
    assert claims["access"] == [{"type": "repository", "name": "alice/app", "actions": ["delete"]}]


async def test_space_separated_scopes_are_understood(client: httpx.AsyncClient) -> None:
    response = await get_token(
        client, "repository:alice/a:pull repository:alice/b:push", auth=("alice", "wonderland")
    )
    _, claims = decode(response.json()["token"])
    assert [a["name"] for a in claims["access"]] == ["alice/a", "alice/b"]


async def test_catalog_scope_is_granted_by_a_registry_rule(client: httpx.AsyncClient) -> None:
    alice = await get_token(client, "registry:catalog:*", auth=("alice", "wonderland"))
    bob = await get_token(client, "registry:catalog:*", auth=("bob", "builder"))
    assert decode(alice.json()["token"])[1]["access"] == [
        {"type": "registry", "name": "catalog", "actions": ["*"]}
    ]
    assert decode(bob.json()["token"])[1]["access"] == []


async def test_anonymous_get_receives_only_anonymous_rights(client: httpx.AsyncClient) -> None:
    response = await get_token(
        client, "repository:public/app:pull,push", "repository:alice/app:pull"
    )
    assert response.status_code == 200
    _, claims = decode(response.json()["token"])
    assert claims["sub"] == ""
    assert claims["access"] == [{"type": "repository", "name": "public/app", "actions": ["pull"]}]


async def test_wrong_password_gets_401_with_a_basic_challenge(client: httpx.AsyncClient) -> None:
    response = await get_token(client, "repository:alice/app:pull", auth=("alice", "nope"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic realm=")
    assert "token" not in response.json()


async def test_unknown_user_gets_401(client: httpx.AsyncClient) -> None:
    assert (await get_token(client, auth=("mallory", "x"))).status_code == 401


async def test_non_basic_authorization_gets_401(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/auth/token", params={"service": SERVICE}, headers={"authorization": "Bearer abc"}
    )
    assert response.status_code == 401


async def test_unknown_service_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/auth/token", params={"service": "elsewhere"})
    assert response.status_code == 400


async def test_offline_token_adds_a_refresh_token(client: httpx.AsyncClient) -> None:
    body = (await get_token(client, auth=("alice", "wonderland"), offline_token="true")).json()
    assert "refresh_token" in body
    assert "refresh_token" not in (await get_token(client, auth=("alice", "wonderland"))).json()


async def test_anonymous_caller_gets_no_refresh_token(client: httpx.AsyncClient) -> None:
    assert "refresh_token" not in (await get_token(client, offline_token="true")).json()


async def test_account_and_client_id_are_accepted(client: httpx.AsyncClient) -> None:
    response = await get_token(
        client, auth=("alice", "wonderland"), account="alice", client_id="docker"
    )
    assert response.status_code == 200


async def test_post_password_grant_issues_a_token(client: httpx.AsyncClient) -> None:
    response = await post_token(
        client,
        grant_type="password",
        username="alice",
        password="wonderland",
        scope="repository:alice/app:pull repository:alice/app:push",
        access_type="offline",
    )
    assert response.status_code == 200
    body = response.json()
    assert {"access_token", "token", "expires_in", "issued_at", "refresh_token"} <= set(body)
    assert decode(body["access_token"])[1]["access"] == [
        {"type": "repository", "name": "alice/app", "actions": ["pull", "push"]}
    ]


async def test_post_with_a_wrong_password_gets_401(client: httpx.AsyncClient) -> None:
    response = await post_token(client, grant_type="password", username="alice", password="x")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_grant"


async def test_post_refresh_grant_issues_a_new_access_token(client: httpx.AsyncClient) -> None:
    refresh = (await get_token(client, auth=("alice", "wonderland"), offline_token="true")).json()[
        "refresh_token"
    ]
    response = await post_token(
        client, grant_type="refresh_token", refresh_token=refresh, scope="repository:alice/x:push"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["refresh_token"] == refresh
    _, claims = decode(body["access_token"])
    assert claims["sub"] == "alice"
    assert claims["access"] == [{"type": "repository", "name": "alice/x", "actions": ["push"]}]


async def test_refresh_token_stops_working_when_the_password_changes(
    tmp_path: Path, app_client: Callable[[Authorizer | None], httpx.AsyncClient]
) -> None:
    client = app_client(build_authorizer(config(tmp_path), data_dir=tmp_path / "data"))
    body = (await get_token(client, auth=("alice", "wonderland"), offline_token="true")).json()
    write_htpasswd(tmp_path / "htpasswd", {"alice": "new-password", "bob": "builder"})
    await asyncio.sleep(1.05)  # the file is looked at again after the check interval
    response = await post_token(
        client, grant_type="refresh_token", refresh_token=body["refresh_token"]
    )
    assert response.status_code == 401


async def test_refresh_token_is_not_an_access_token(client: httpx.AsyncClient) -> None:
    refresh = (
        await get_token(
            client, "repository:alice/app:pull", auth=("alice", "wonderland"), offline_token="true"
        )
    ).json()["refresh_token"]
    response = await client.get(
        "/v2/alice/app/tags/list", headers={"authorization": f"Bearer {refresh}"}
    )
    assert response.status_code == 401


async def test_access_token_is_not_a_refresh_token(client: httpx.AsyncClient) -> None:
    access = (await get_token(client, auth=("alice", "wonderland"))).json()["token"]
    response = await post_token(client, grant_type="refresh_token", refresh_token=access)
    assert response.status_code == 401


async def test_unsupported_grant_type_is_refused(client: httpx.AsyncClient) -> None:
    response = await post_token(client, grant_type="client_credentials")
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


async def test_post_must_be_a_form(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/token", json={"grant_type": "password"})
    assert response.status_code == 400


async def test_issued_token_is_accepted_by_the_registry(client: httpx.AsyncClient) -> None:
    token = (
        await get_token(client, "repository:alice/app:pull", auth=("alice", "wonderland"))
    ).json()["token"]
    response = await client.get(
        "/v2/alice/app/tags/list", headers={"authorization": f"Bearer {token}"}
    )
    assert response.status_code == 404  # authorized; the repository does not exist yet


async def test_jwks_publishes_the_signing_key(client: httpx.AsyncClient) -> None:
    token = (await get_token(client, auth=("alice", "wonderland"))).json()["token"]
    header, _ = decode(token)
    [jwk] = (await client.get("/auth/jwks.json")).json()["keys"]
    assert jwk["kid"] == header["kid"]
    assert jwk["alg"] == header["alg"] == "ES256"
    key_from_jwk(jwk)


async def test_configured_rsa_key_signs_rs256(
    tmp_path: Path, app_client: Callable[[Authorizer | None], httpx.AsyncClient]
) -> None:
    key_path = tmp_path / "key.pem"
    key_path.write_bytes(
        rsa.generate_private_key(65537, 2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    client = app_client(
        build_authorizer(config(tmp_path, key=str(key_path)), data_dir=tmp_path / "data")
    )
    token = (
        await get_token(client, "repository:alice/a:pull", auth=("alice", "wonderland"))
    ).json()["token"]
    assert decode(token)[0]["alg"] == "RS256"
    headers = {"authorization": f"Bearer {token}"}
    assert (await client.get("/v2/alice/a/tags/list", headers=headers)).status_code == 404
    assert not (tmp_path / "data").exists()


async def test_configured_expiration_is_used(
    tmp_path: Path, app_client: Callable[[Authorizer | None], httpx.AsyncClient]
) -> None:
    client = app_client(
        build_authorizer(config(tmp_path, expiration="15m"), data_dir=tmp_path / "d")
    )
    assert (await get_token(client, auth=("alice", "wonderland"))).json()["expires_in"] == 900


async def test_token_path_follows_the_realm(
    tmp_path: Path, app_client: Callable[[Authorizer | None], httpx.AsyncClient]
) -> None:
    cfg = config(tmp_path)
    cfg["token"]["realm"] = "https://registry.test/v1/token"
    client = app_client(build_authorizer(cfg, data_dir=tmp_path / "d"))
    assert (await client.get("/v1/token", params={"service": SERVICE})).status_code == 200


async def test_token_server_without_users_serves_anonymous_callers(
    tmp_path: Path, app_client: Callable[[Authorizer | None], httpx.AsyncClient]
) -> None:
    cfg = config(tmp_path)
    del cfg["tokenserver"]["htpasswd"]
    client = app_client(build_authorizer(cfg, data_dir=tmp_path / "d"))
    assert (await get_token(client, "repository:public/a:pull")).status_code == 200
    assert (await get_token(client, auth=("alice", "wonderland"))).status_code == 401
