"""Tokens that must never be accepted, each its own case, through the real API app."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from auth_helpers import (
    ISSUER,
    REALM,
    SERVICE,
    build_authorizer,
    certificate,
    challenge_params,
    der_b64,
    ec_key,
    mint,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from dockyard.auth import b64url, jwt
from dockyard.auth.base import Authorizer
from dockyard.auth.keys import public_jwk

PATH = "/v2/a/b/tags/list"
SIGNER = ec_key()


@pytest.fixture
def client(
    tmp_path: Path, app_client: Callable[[Authorizer | None], httpx.AsyncClient]
) -> httpx.AsyncClient:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**public_jwk(SIGNER.public_key()), "kid": "k1"}]}))
    authorizer = build_authorizer(
        {"token": {"realm": REALM, "service": SERVICE, "issuer": ISSUER, "jwks": str(jwks)}},
        data_dir=tmp_path,
    )
    return app_client(authorizer)


async def get_with(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get(PATH, headers={"authorization": f"Bearer {token}"})


async def assert_invalid_token(client: httpx.AsyncClient, token: str) -> None:
    response = await get_with(client, token)
    assert response.status_code == 401
    params = challenge_params(response.headers["www-authenticate"])
    assert params["error"] == "invalid_token"
    assert params["scope"] == "repository:a/b:pull"
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"


def forge(header: dict[str, object], claims_: dict[str, object], signature: bytes = b"") -> str:
    head = b64url.encode(json.dumps(header).encode())
    body = b64url.encode(json.dumps(claims_).encode())
    return f"{head}.{body}.{b64url.encode(signature)}"


def parts(token: str) -> tuple[dict[str, object], dict[str, object], str]:
    head, body, sig = token.split(".")
    return json.loads(b64url.decode(head)), json.loads(b64url.decode(body)), sig


async def test_valid_token_is_accepted(client: httpx.AsyncClient) -> None:
    response = await get_with(client, mint(SIGNER))
    assert response.status_code == 404  # past authorization: the repository is unknown


async def test_jwks_kid_is_accepted(client: httpx.AsyncClient) -> None:
    response = await get_with(client, mint(SIGNER, header={"kid": "k1"}))
    assert response.status_code == 404


async def test_alg_none_is_rejected(client: httpx.AsyncClient) -> None:
    header, body, _ = parts(mint(SIGNER))
    await assert_invalid_token(client, forge({**header, "alg": "none"}, body))


async def test_alg_none_with_the_original_signature_is_rejected(client: httpx.AsyncClient) -> None:
    header, body, sig = parts(mint(SIGNER))
    await assert_invalid_token(client, forge({**header, "alg": "none"}, body, b64url.decode(sig)))


async def test_hs256_signed_with_the_public_key_is_rejected(client: httpx.AsyncClient) -> None:
    header, body, _ = parts(mint(SIGNER))
    header = {**header, "alg": "HS256"}
    head = b64url.encode(json.dumps(header).encode())
    payload = b64url.encode(json.dumps(body).encode())
    secret = SIGNER.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    mac = hmac.new(secret, f"{head}.{payload}".encode(), hashlib.sha256).digest()
    await assert_invalid_token(client, f"{head}.{payload}.{b64url.encode(mac)}")


async def test_expired_token_is_rejected(client: httpx.AsyncClient) -> None:
    now = int(time.time())
    await assert_invalid_token(client, mint(SIGNER, exp=now - 120, iat=now - 500, nbf=now - 500))


async def test_token_expired_within_the_leeway_is_accepted(client: httpx.AsyncClient) -> None:
    now = int(time.time())
    response = await get_with(client, mint(SIGNER, exp=now - 20, iat=now - 500, nbf=now - 500))
    assert response.status_code == 404


async def test_token_without_expiry_is_rejected(client: httpx.AsyncClient) -> None:
    header, body, _ = parts(mint(SIGNER))
    body.pop("exp")
    await assert_invalid_token(client, jwt.encode(header, body, SIGNER))


async def test_not_yet_valid_token_is_rejected(client: httpx.AsyncClient) -> None:
    await assert_invalid_token(client, mint(SIGNER, nbf=int(time.time()) + 120))


async def test_token_issued_in_the_future_is_rejected(client: httpx.AsyncClient) -> None:
    await assert_invalid_token(client, mint(SIGNER, iat=int(time.time()) + 600))


async def test_wrong_issuer_is_rejected(client: httpx.AsyncClient) -> None:
    await assert_invalid_token(client, mint(SIGNER, iss="someone-else"))


async def test_wrong_audience_is_rejected(client: httpx.AsyncClient) -> None:
    await assert_invalid_token(client, mint(SIGNER, aud="other.registry"))


async def test_audience_list_containing_the_service_is_accepted(client: httpx.AsyncClient) -> None:
    response = await get_with(client, mint(SIGNER, aud=["other", SERVICE]))
    assert response.status_code == 404


async def test_tampered_payload_is_rejected(client: httpx.AsyncClient) -> None:
    header, body, sig = parts(mint(SIGNER, access=[]))
    body["access"] = [{"type": "repository", "name": "a/b", "actions": ["*"]}]
    await assert_invalid_token(client, forge(header, body, b64url.decode(sig)))


async def test_tampered_signature_is_rejected(client: httpx.AsyncClient) -> None:
    token = mint(SIGNER)
    head, body, sig = token.split(".")
    raw = bytearray(b64url.decode(sig))
    raw[5] ^= 0x01
    await assert_invalid_token(client, f"{head}.{body}.{b64url.encode(bytes(raw))}")


async def test_truncated_signature_is_rejected(client: httpx.AsyncClient) -> None:
    head, body, sig = mint(SIGNER).split(".")
    await assert_invalid_token(client, f"{head}.{body}.{sig[:-4]}")


async def test_unknown_kid_is_rejected(client: httpx.AsyncClient) -> None:
    await assert_invalid_token(client, mint(SIGNER, header={"kid": "AAAA:BBBB"}))


async def test_missing_kid_is_rejected(client: httpx.AsyncClient) -> None:
    await assert_invalid_token(client, mint(SIGNER, header={"kid": None}))


async def test_trusted_kid_on_a_token_signed_by_another_key_is_rejected(
    client: httpx.AsyncClient,
) -> None:
    await assert_invalid_token(client, mint(ec_key(), header={"kid": "k1"}))


async def test_embedded_jwk_of_an_untrusted_key_is_rejected(client: httpx.AsyncClient) -> None:
    attacker = ec_key()
    jwk = public_jwk(attacker.public_key())
    await assert_invalid_token(client, mint(attacker, header={"kid": None, "jwk": jwk}))


async def test_embedded_jwk_of_the_trusted_key_is_accepted(client: httpx.AsyncClient) -> None:
    jwk = public_jwk(SIGNER.public_key())
    response = await get_with(client, mint(SIGNER, header={"kid": None, "jwk": jwk}))
    assert response.status_code == 404


async def test_self_signed_x5c_chain_is_rejected(client: httpx.AsyncClient) -> None:
    attacker = ec_key()
    chain = [der_b64(certificate(attacker))]
    await assert_invalid_token(client, mint(attacker, header={"kid": None, "x5c": chain}))


async def test_algorithm_the_key_cannot_use_is_rejected(client: httpx.AsyncClient) -> None:
    header, body, sig = parts(mint(SIGNER))
    await assert_invalid_token(client, forge({**header, "alg": "RS256"}, body, b64url.decode(sig)))


async def test_p384_signature_labelled_es256_is_rejected(client: httpx.AsyncClient) -> None:
    other = ec.generate_private_key(ec.SECP384R1())
    await assert_invalid_token(client, mint(other, alg="ES384", header={"kid": "k1"}))


async def test_malformed_access_claim_is_rejected(client: httpx.AsyncClient) -> None:
    await assert_invalid_token(client, mint(SIGNER, access={"repository": "a/b"}))


async def test_garbage_bearer_is_rejected(client: httpx.AsyncClient) -> None:
    await assert_invalid_token(client, "not-a-token")


async def test_basic_credentials_get_the_bearer_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get(PATH, auth=("alice", "pw"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer ")


async def test_huge_expiry_is_rejected(client: httpx.AsyncClient) -> None:
    await assert_invalid_token(client, mint(SIGNER, exp=10**400))


async def test_non_finite_expiry_is_rejected(client: httpx.AsyncClient) -> None:
    header, body, _ = parts(mint(SIGNER))
    token = jwt.encode(header, {**body, "exp": float("inf")}, SIGNER)
    await assert_invalid_token(client, token)
