"""Compact JSON Web Tokens signed with public-key algorithms (RFC 7515, 7518, 8037).

Only asymmetric algorithms exist here: ``none`` and the HMAC family are not algorithms
this module knows, so a token naming them can never verify (and a public key can never
be mistaken for an HMAC secret). Each algorithm is bound to one key type and, for ECDSA,
one curve; the signature's length is checked before the signature itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from dockyard.auth import b64url
from dockyard.auth.keys import PrivateKey, PublicKey, curve_name
from dockyard.errors import DockyardError

_MAX_TOKEN_LENGTH: Final = 64 * 1024


class TokenInvalid(DockyardError):
    """The token is malformed, wrongly signed, or not valid here."""


@dataclass(frozen=True, slots=True)
class Algorithm:
    """A JWS algorithm: its key type and how it hashes and pads."""

    name: str
    family: str  # "RS", "PS", "ES", "EdDSA"
    hash: type[hashes.HashAlgorithm] | None = None
    curve: str | None = None  # JWK crv of the only curve ES* may use


ALGORITHMS: Final[dict[str, Algorithm]] = {
    a.name: a
    for a in (
        Algorithm("RS256", "RS", hashes.SHA256),
        Algorithm("RS384", "RS", hashes.SHA384),
        Algorithm("RS512", "RS", hashes.SHA512),
        Algorithm("PS256", "PS", hashes.SHA256),
        Algorithm("PS384", "PS", hashes.SHA384),
        Algorithm("PS512", "PS", hashes.SHA512),
        Algorithm("ES256", "ES", hashes.SHA256, "P-256"),
        Algorithm("ES384", "ES", hashes.SHA384, "P-384"),
        Algorithm("ES512", "ES", hashes.SHA512, "P-521"),
        Algorithm("EdDSA", "EdDSA"),
    )
}


def algorithm_for(key: PrivateKey | PublicKey) -> str:
    """The algorithm a token server signs with for a key of this kind."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        crv = curve_name(key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key)
        return {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}[crv]
    return "EdDSA"


@dataclass(frozen=True, slots=True)
class UnverifiedToken:
    """A parsed token whose signature has not been checked yet."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise ValueError(f"duplicate member {name!r}")
        result[name] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_object(part: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(
            b64url.decode(part), object_pairs_hook=_no_duplicates, parse_constant=_no_constants
        )
    except (ValueError, RecursionError):
        # RecursionError: JSON nested deeper than the decoder follows.
        raise TokenInvalid(f"malformed token {what}") from None
    if not isinstance(value, dict):
        raise TokenInvalid(f"token {what} is not a JSON object")
    return value


def parse(token: str) -> UnverifiedToken:
    """Split and decode a compact JWS; raises ``TokenInvalid`` when it is not one."""
    if len(token) > _MAX_TOKEN_LENGTH:
        raise TokenInvalid("token is too long")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenInvalid("malformed token")
    header = _json_object(parts[0], "header")
    claims = _json_object(parts[1], "claims")
    try:
        signature = b64url.decode(parts[2])
    except ValueError:
        raise TokenInvalid("malformed token signature") from None
    if not isinstance(header.get("alg"), str):
        raise TokenInvalid("token header has no algorithm")
    if "crit" in header:
        raise TokenInvalid("token header has critical extensions")
    return UnverifiedToken(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def verify_signature(token: UnverifiedToken, key: PublicKey, allowed: frozenset[str]) -> None:
    """Check the token's signature with ``key``; raises ``TokenInvalid`` unless it holds."""
    name = token.header["alg"]
    algorithm = ALGORITHMS.get(name)
    if algorithm is None or name not in allowed:
        raise TokenInvalid(f"signing algorithm {name!r} is not accepted")
    try:
        _verify(algorithm, key, token.signing_input, token.signature)
    except InvalidSignature:
        raise TokenInvalid("token signature is invalid") from None


def _verify(algorithm: Algorithm, key: PublicKey, data: bytes, signature: bytes) -> None:
    if algorithm.family in ("RS", "PS"):
        if not isinstance(key, rsa.RSAPublicKey) or algorithm.hash is None:
            raise TokenInvalid("token algorithm does not match the key")
        digest = algorithm.hash()
        pad: padding.AsymmetricPadding = (
            padding.PKCS1v15()
            if algorithm.family == "RS"
            else padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        )
        if len(signature) != (key.key_size + 7) // 8:
            raise InvalidSignature
        key.verify(signature, data, pad, digest)
    elif algorithm.family == "ES":
        if not isinstance(key, ec.EllipticCurvePublicKey) or algorithm.hash is None:
            raise TokenInvalid("token algorithm does not match the key")
        if curve_name(key) != algorithm.curve:
            raise TokenInvalid("token algorithm does not match the key's curve")
        size = (key.curve.key_size + 7) // 8
        if len(signature) != 2 * size:
            raise InvalidSignature
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        key.verify(encode_dss_signature(r, s), data, ec.ECDSA(algorithm.hash()))
    else:
        if not isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            raise TokenInvalid("token algorithm does not match the key")
        key.verify(signature, data)


def sign(algorithm_name: str, key: PrivateKey, data: bytes) -> bytes:
    """Sign ``data`` as the JWS algorithm ``algorithm_name`` (used by the token server)."""
    algorithm = ALGORITHMS[algorithm_name]
    if isinstance(key, rsa.RSAPrivateKey) and algorithm.hash is not None:
        digest = algorithm.hash()
        pad: padding.AsymmetricPadding = (
            padding.PKCS1v15()
            if algorithm.family == "RS"
            else padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        )
        return key.sign(data, pad, digest)
    if isinstance(key, ec.EllipticCurvePrivateKey) and algorithm.hash is not None:
        size = (key.curve.key_size + 7) // 8
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(algorithm.hash())))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return key.sign(data)
    raise ValueError(f"key cannot sign {algorithm_name}")


def encode(header: dict[str, Any], claims: dict[str, Any], key: PrivateKey) -> str:
    """A signed compact JWS of ``claims``; ``header["alg"]`` names the algorithm."""
    head = b64url.encode(json.dumps(header, separators=(",", ":")).encode("utf-8"))
    body = b64url.encode(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
    signing_input = f"{head}.{body}"
    signature = sign(header["alg"], key, signing_input.encode("ascii"))
    return f"{signing_input}.{b64url.encode(signature)}"
