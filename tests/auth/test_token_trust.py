"""Another instance trusts dockyard's token server through its certificate or its JWKS."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from auth_helpers import ISSUER, REALM, SERVICE, basic, build_authorizer, write_htpasswd

from dockyard.auth.signingkey import CERT_FILE

RULES = [{"repositories": "${user}/**", "users": ["*"], "actions": ["pull", "push"]}]


@pytest.fixture
def issuer(tmp_path: Path, app_client: Callable[..., httpx.AsyncClient]) -> httpx.AsyncClient:
    """The instance running the token server, keeping its key in tmp_path/issuer."""
    users = write_htpasswd(tmp_path / "htpasswd", {"alice": "pw"})
    section = {
        "token": {"realm": REALM, "service": SERVICE, "issuer": ISSUER},
        "tokenserver": {"htpasswd": str(users), "rules": RULES},
    }
    return app_client(build_authorizer(section, data_dir=tmp_path / "issuer"))


async def alice_token(issuer: httpx.AsyncClient) -> str:
    response = await issuer.get(
        "/auth/token",
        params={"service": SERVICE, "scope": "repository:alice/app:pull"},
        headers={"authorization": basic("alice", "pw")},
    )
    token: str = response.json()["token"]
    return token


def verifier(
    app_client: Callable[..., httpx.AsyncClient], tmp_path: Path, **keys: str
) -> httpx.AsyncClient:
    section = {"realm": REALM, "service": SERVICE, "issuer": ISSUER, **keys}
    return app_client(build_authorizer({"token": section}, data_dir=tmp_path / "verifier"))


async def test_instance_trusting_the_generated_certificate_accepts_its_tokens(
    tmp_path: Path, issuer: httpx.AsyncClient, app_client: Callable[..., httpx.AsyncClient]
) -> None:
    certificate = tmp_path / "issuer" / "auth" / CERT_FILE
    other = verifier(app_client, tmp_path, rootcertbundle=str(certificate))
    headers = {"authorization": f"Bearer {await alice_token(issuer)}"}
    assert (await other.get("/v2/alice/app/tags/list", headers=headers)).status_code == 404
    assert (await other.get("/v2/bob/app/tags/list", headers=headers)).status_code == 401


async def test_instance_trusting_the_published_jwks_accepts_its_tokens(
    tmp_path: Path, issuer: httpx.AsyncClient, app_client: Callable[..., httpx.AsyncClient]
) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_bytes((await issuer.get("/auth/jwks.json")).content)
    other = verifier(app_client, tmp_path, jwks=str(jwks))
    headers = {"authorization": f"Bearer {await alice_token(issuer)}"}
    assert (await other.get("/v2/alice/app/tags/list", headers=headers)).status_code == 404


async def test_instance_trusting_another_key_rejects_its_tokens(
    tmp_path: Path, issuer: httpx.AsyncClient, app_client: Callable[..., httpx.AsyncClient]
) -> None:
    build_authorizer(
        {"token": {"realm": REALM, "service": SERVICE, "issuer": ISSUER}, "tokenserver": {}},
        data_dir=tmp_path / "stranger",
    )
    certificate = tmp_path / "stranger" / "auth" / CERT_FILE
    other = verifier(app_client, tmp_path, rootcertbundle=str(certificate))
    headers = {"authorization": f"Bearer {await alice_token(issuer)}"}
    response = await other.get("/v2/alice/app/tags/list", headers=headers)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
