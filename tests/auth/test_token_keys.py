"""Key ids and JWK conversion."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from auth_helpers import certificate, ec_key, pem
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from dockyard.auth.errors import AuthConfigError
from dockyard.auth.keys import (
    TrustedKeys,
    jwk_thumbprint,
    key_from_jwk,
    key_ids,
    libtrust_key_id,
    load_certificates,
    load_jwks,
    public_jwk,
)

RFC7638_JWK = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
    "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_F"
    "DW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQ"
    "Fh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    "e": "AQAB",
}


def test_rsa_thumbprint_matches_rfc7638_example() -> None:
    key = key_from_jwk(RFC7638_JWK)
    assert jwk_thumbprint(key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_libtrust_key_id_has_twelve_groups_of_four() -> None:
    kid = libtrust_key_id(ec_key().public_key())
    assert re.fullmatch(r"[A-Z2-7]{4}(:[A-Z2-7]{4}){11}", kid)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ec.generate_private_key(ec.SECP256R1()),
        lambda: ec.generate_private_key(ec.SECP384R1()),
        lambda: ed25519.Ed25519PrivateKey.generate(),
        lambda: rsa.generate_private_key(65537, 2048),
    ],
)
def test_jwk_round_trips(make: object) -> None:
    key = make().public_key()  # type: ignore[operator]
    back = key_from_jwk(public_jwk(key))
    assert jwk_thumbprint(back) == jwk_thumbprint(key)


def test_ec_point_not_on_the_curve_is_rejected() -> None:
    jwk = public_jwk(ec_key().public_key())
    jwk["y"] = jwk["x"]
    with pytest.raises(ValueError, match=r"curve|point|invalid"):
        key_from_jwk(jwk)


def test_symmetric_jwk_is_rejected() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        key_from_jwk({"kty": "oct", "k": "c2VjcmV0"})


def test_trusted_keys_find_a_key_under_each_of_its_ids() -> None:
    key = ec_key().public_key()
    trusted = TrustedKeys()
    trusted.add(key, ["my-kid"])
    for kid in ["my-kid", *key_ids(key)]:
        assert len(trusted.lookup(kid)) == 1
    assert trusted.lookup("other") == []


def test_reference_style_ec_id_is_shared_by_keys_on_a_curve() -> None:
    a, b = ec_key().public_key(), ec_key().public_key()
    trusted = TrustedKeys()
    trusted.add(a)
    trusted.add(b)
    shared = set(key_ids(a)) & set(key_ids(b))
    assert len(shared) == 1
    assert len(trusted.lookup(shared.pop())) == 2


def test_certificate_bundle_loads(tmp_path: Path) -> None:
    key = ec_key()
    path = tmp_path / "bundle.pem"
    path.write_bytes(pem(certificate(key)) + pem(certificate(ec_key())))
    assert len(load_certificates(path, "auth.token.rootcertbundle")) == 2


def test_empty_certificate_bundle_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bundle.pem"
    path.write_text("nothing here")
    with pytest.raises(AuthConfigError, match=r"auth.token.rootcertbundle: .*no valid PEM"):
        load_certificates(path, "auth.token.rootcertbundle")


def test_jwks_file_loads_with_kids(tmp_path: Path) -> None:
    key = ec_key().public_key()
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{**public_jwk(key), "kid": "k1"}]}))
    [(kid, loaded)] = load_jwks(path, "auth.token.jwks")
    assert kid == "k1"
    assert jwk_thumbprint(loaded) == jwk_thumbprint(key)


def test_malformed_jwks_entry_names_its_index(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{"kty": "EC", "crv": "P-256"}]}))
    with pytest.raises(AuthConfigError, match=r"auth.token.jwks: keys\[0\]"):
        load_jwks(path, "auth.token.jwks")
