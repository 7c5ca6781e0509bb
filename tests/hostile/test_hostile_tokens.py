"""Crafted credentials: whatever a token holds, the answer is 401 ``invalid_token``."""

from __future__ import annotations

import base64
import json
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
    pem,
    write_htpasswd,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ObjectIdentifier

from dockyard.auth import b64url
from dockyard.auth.base import Authorizer
from dockyard.auth.keys import public_jwk

PATH = "/v2/a/b/tags/list"
SIGNER = ec_key()
DEEP = 1000


def nested(depth: int) -> str:
    """A JSON value nested ``depth`` arrays deep."""
    return "[" * depth + "]" * depth


def token_with_header(header_json: str) -> str:
    claims = b64url.encode(b'{"iss":"x"}')
    return f"{b64url.encode(header_json.encode())}.{claims}.{b64url.encode(b'sig')}"


@pytest.fixture
def token_client(
    tmp_path: Path, hostile_client: Callable[[Authorizer | None], httpx.AsyncClient]
) -> httpx.AsyncClient:
    """The registry trusting one JWKS key and a root certificate bundle."""
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**public_jwk(SIGNER.public_key()), "kid": "k1"}]}))
    bundle = tmp_path / "roots.pem"
    bundle.write_bytes(pem(certificate(SIGNER, name="root")))
    section = {
        "realm": REALM,
        "service": SERVICE,
        "issuer": ISSUER,
        "jwks": str(jwks),
        "rootcertbundle": str(bundle),
    }
    return hostile_client(build_authorizer({"token": section}, data_dir=tmp_path))


async def assert_invalid_token(client: httpx.AsyncClient, token: str) -> None:
    response = await client.get(PATH, headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    assert challenge_params(response.headers["www-authenticate"])["error"] == "invalid_token"
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"


async def test_token_header_nested_a_thousand_levels_is_invalid_token(
    token_client: httpx.AsyncClient,
) -> None:
    await assert_invalid_token(token_client, token_with_header(f'{{"alg":{nested(DEEP)}}}'))


async def test_token_claims_nested_a_thousand_levels_are_invalid_token(
    token_client: httpx.AsyncClient,
) -> None:
    head = b64url.encode(b'{"alg":"ES256","kid":"k1"}')
    claims = b64url.encode(f'{{"access":{nested(DEEP)}}}'.encode())
    await assert_invalid_token(token_client, f"{head}.{claims}.{b64url.encode(b'sig')}")


def certificate_with_duplicated_extension() -> bytes:
    """A DER certificate carrying the same extension twice (RFC 5280 forbids it).

    Two private extensions of equal length are written, then the second one's OID is
    overwritten with the first's: the signature no longer matters, parsing fails first.
    """

    first = ObjectIdentifier("1.3.6.1.4.1.55555.1")
    second = ObjectIdentifier("1.3.6.1.4.1.55555.2")
    cert = certificate(SIGNER, name="leaf")
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(cert.issuer)
        .public_key(SIGNER.public_key())
        .serial_number(cert.serial_number)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
        .add_extension(x509.UnrecognizedExtension(first, b"\x05\x00"), critical=False)
        .add_extension(x509.UnrecognizedExtension(second, b"\x05\x00"), critical=False)
    )
    der = builder.sign(SIGNER, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    # The two OIDs' DER encodings (tag, length, body) differ only in their last byte.
    encoded_first = bytes.fromhex("06092b0601040183b20301")
    encoded_second = bytes.fromhex("06092b0601040183b20302")
    assert der.count(encoded_second) == 1
    return der.replace(encoded_second, encoded_first)


async def test_x5c_certificate_with_a_duplicated_extension_is_invalid_token(
    token_client: httpx.AsyncClient,
) -> None:
    # The broken certificate as an intermediate: its extensions are read to see if it is a CA.
    broken = base64.b64encode(certificate_with_duplicated_extension()).decode()
    x5c = [der_b64(certificate(SIGNER, name="leaf")), broken]
    token = mint(SIGNER, header={"kid": None, "x5c": x5c})
    await assert_invalid_token(token_client, token)


@pytest.fixture
def token_server_client(
    tmp_path: Path, hostile_client: Callable[[Authorizer | None], httpx.AsyncClient]
) -> httpx.AsyncClient:
    users = write_htpasswd(tmp_path / "htpasswd", {"alice": "secret"})
    authorizer = build_authorizer(
        {
            "token": {"realm": REALM, "service": SERVICE, "issuer": ISSUER},
            "tokenserver": {"htpasswd": str(users)},
        },
        data_dir=tmp_path,
    )
    return hostile_client(authorizer)


async def test_refresh_token_nested_a_thousand_levels_is_an_invalid_grant(
    token_server_client: httpx.AsyncClient,
) -> None:
    response = await token_server_client.post(
        "/auth/token",
        data={
            "grant_type": "refresh_token",
            "service": SERVICE,
            "refresh_token": token_with_header(f'{{"alg":{nested(DEEP)}}}'),
        },
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_grant"
