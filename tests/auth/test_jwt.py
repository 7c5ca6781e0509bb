"""The JWS layer: signing and verifying with each public-key algorithm."""

from __future__ import annotations

import base64
import json

import pytest
from auth_helpers import ec_key
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from dockyard.auth import jwt
from dockyard.auth.jwt import ALGORITHMS, TokenInvalid
from dockyard.auth.keys import PrivateKey

ALL = frozenset(ALGORITHMS)
RSA_KEY = rsa.generate_private_key(65537, 2048)


def key_for(alg: str) -> PrivateKey:
    if alg.startswith(("RS", "PS")):
        return RSA_KEY
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    if alg == "ES512":
        return ec.generate_private_key(ec.SECP521R1())
    return ed25519.Ed25519PrivateKey.generate()


@pytest.mark.parametrize("alg", sorted(ALGORITHMS))
def test_each_algorithm_signs_and_verifies(alg: str) -> None:
    key = key_for(alg)
    token = jwt.parse(jwt.encode({"alg": alg}, {"sub": "x"}, key))
    jwt.verify_signature(token, key.public_key(), ALL)
    assert token.claims == {"sub": "x"}


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
def test_ecdsa_signatures_are_raw_r_and_s(alg: str) -> None:
    key = key_for(alg)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    token = jwt.parse(jwt.encode({"alg": alg}, {}, key))
    assert len(token.signature) == 2 * ((key.curve.key_size + 7) // 8)


def test_der_encoded_ecdsa_signature_is_rejected() -> None:
    key = ec_key()
    token = jwt.parse(jwt.encode({"alg": "ES256"}, {}, key))
    der = key.sign(token.signing_input, ec.ECDSA(hashes.SHA256()))
    forged = jwt.UnverifiedToken(token.header, token.claims, token.signing_input, der)
    with pytest.raises(TokenInvalid):
        jwt.verify_signature(forged, key.public_key(), ALL)


def test_es384_header_with_a_p256_key_is_rejected() -> None:
    key = ec_key()
    token = jwt.parse(jwt.encode({"alg": "ES256"}, {}, key))
    relabelled = jwt.UnverifiedToken({"alg": "ES384"}, {}, token.signing_input, token.signature)
    with pytest.raises(TokenInvalid, match="curve"):
        jwt.verify_signature(relabelled, key.public_key(), ALL)


def test_rsa_algorithm_with_an_ec_key_is_rejected() -> None:
    token = jwt.parse(jwt.encode({"alg": "RS256"}, {}, RSA_KEY))
    with pytest.raises(TokenInvalid, match="does not match"):
        jwt.verify_signature(token, ec_key().public_key(), ALL)


def test_algorithm_outside_the_allowed_set_is_rejected() -> None:
    key = ec_key()
    token = jwt.parse(jwt.encode({"alg": "ES256"}, {}, key))
    with pytest.raises(TokenInvalid, match="not accepted"):
        jwt.verify_signature(token, key.public_key(), frozenset({"RS256"}))


@pytest.mark.parametrize("alg", ["none", "HS256", "HS384", "HS512", "None", ""])
def test_none_and_hmac_are_unknown_algorithms(alg: str) -> None:
    assert alg not in ALGORITHMS


def b64(data: object) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "raw",
    [
        "a.b",
        "a.b.c.d",
        f"{b64({'alg': 'ES256'})}.{b64({})}.not*base64",
        f"{b64(b'not json')}.{b64({})}.",
        f"{b64([1, 2])}.{b64({})}.",
        f"{b64({'typ': 'JWT'})}.{b64({})}.",
        f"{b64({'alg': 'ES256'})}.{b64('string')}.",
        f"{b64({'alg': 'ES256'})}=.{b64({})}.",
        b64(b'{"alg":"ES256","alg":"none"}') + f".{b64({})}.",
        f"{b64({'alg': 'ES256', 'crit': ['exp']})}.{b64({})}.",
        "x" * 70000,
    ],
)
def test_malformed_tokens_are_rejected(raw: str) -> None:
    with pytest.raises(TokenInvalid):
        jwt.parse(raw)
