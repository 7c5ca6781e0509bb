"""Public keys that may sign tokens: JWK conversion, key ids, certificate bundles, JWKS.

A token's ``kid`` header is looked up among the trusted keys under every id the key is
known by: the id given in a JWKS file, the RFC 7638 thumbprint, and the libtrust key id
(``ABCD:EFGH:…``) that docker's token servers have always used. The reference registry
computes the RFC 7638 thumbprint of EC keys from the curve's generator point rather than
the key (so all keys on a curve share it); that id is accepted too, for tokens from
issuers built on that code, and any key filed under it is tried in turn.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from dockyard.auth import b64url
from dockyard.auth.errors import AuthConfigError

PublicKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)
PrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)

CURVES: Final[dict[str, type[ec.EllipticCurve]]] = {
    "P-256": ec.SECP256R1,
    "P-384": ec.SECP384R1,
    "P-521": ec.SECP521R1,
}
_CURVE_NAMES: Final[dict[str, str]] = {
    "secp256r1": "P-256",
    "secp384r1": "P-384",
    "secp521r1": "P-521",
}


def curve_name(key: ec.EllipticCurvePublicKey) -> str:
    """The JWK ``crv`` of an EC key; ``ValueError`` for curves JOSE does not name."""
    try:
        return _CURVE_NAMES[key.curve.name]
    except KeyError:
        raise ValueError(f"unsupported curve {key.curve.name}") from None


def _coordinate_size(key: ec.EllipticCurvePublicKey) -> int:
    return (key.curve.key_size + 7) // 8


def public_jwk(key: PublicKey) -> dict[str, str]:
    """The required members of the key's JWK (RFC 7517), without ``kid``."""
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        n, e = b64url.encode_uint(numbers.n), b64url.encode_uint(numbers.e)
        return {"kty": "RSA", "n": n, "e": e}
    if isinstance(key, ec.EllipticCurvePublicKey):
        point = key.public_numbers()
        size = _coordinate_size(key)
        return {
            "kty": "EC",
            "crv": curve_name(key),
            "x": b64url.encode_uint(point.x, size),
            "y": b64url.encode_uint(point.y, size),
        }
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    crv = "Ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else "Ed448"
    return {"kty": "OKP", "crv": crv, "x": b64url.encode(raw)}


def key_from_jwk(jwk: dict[str, Any]) -> PublicKey:
    """The public key a JWK describes; ``ValueError`` when it is malformed or unsupported."""
    try:
        kty = jwk["kty"]
        if kty == "RSA":
            return rsa.RSAPublicNumbers(
                b64url.decode_uint(jwk["e"]), b64url.decode_uint(jwk["n"])
            ).public_key()
        if kty == "EC":
            curve = CURVES[jwk["crv"]]()
            return ec.EllipticCurvePublicNumbers(
                b64url.decode_uint(jwk["x"]), b64url.decode_uint(jwk["y"]), curve
            ).public_key()
        if kty == "OKP":
            raw = b64url.decode(jwk["x"])
            if jwk["crv"] == "Ed25519":
                return ed25519.Ed25519PublicKey.from_public_bytes(raw)
            if jwk["crv"] == "Ed448":
                return ed448.Ed448PublicKey.from_public_bytes(raw)
    except (KeyError, TypeError) as e:
        raise ValueError(f"malformed JWK ({e})") from None
    raise ValueError("unsupported JWK key type or curve")


def jwk_thumbprint(key: PublicKey) -> str:
    """The RFC 7638 SHA-256 thumbprint of the key."""
    members = public_jwk(key)
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"))
    return b64url.encode(hashlib.sha256(canonical.encode("ascii")).digest())


def libtrust_key_id(key: PublicKey) -> str:
    """The libtrust key id: base32 of the first 240 bits of SHA-256(SPKI DER), in 4s."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode("ascii").rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def _reference_ec_key_id(key: ec.EllipticCurvePublicKey) -> str | None:
    # The reference registry's thumbprint of an EC key, built from the curve's generator.
    generators = {
        "P-256": (
            0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
            0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
        ),
        "P-384": (
            0xAA87CA22BE8B05378EB1C71EF320AD746E1D3B628BA79B9859F741E082542A385502F25DBF55296C3A545E3872760AB7,
            0x3617DE4A96262C6F5D9E98BF9292DC29F8F41DBD289A147CE9DA3113B5F0B8C00A60B1CE1D7E819D7A431D7C90EA0E5F,
        ),
    }
    crv = _CURVE_NAMES.get(key.curve.name)
    if crv not in generators:
        return None
    gx, gy = generators[crv]
    x, y = b64url.encode_uint(gx), b64url.encode_uint(gy)
    payload = f'{{"crv":"{crv}","kty":"EC","x":"{x}","y":"{y}"}}'
    return b64url.encode(hashlib.sha256(payload.encode("ascii")).digest())


def key_ids(key: PublicKey) -> list[str]:
    """Every id under which a token's ``kid`` may name this key."""
    ids = [jwk_thumbprint(key), libtrust_key_id(key)]
    if isinstance(key, ec.EllipticCurvePublicKey):
        legacy = _reference_ec_key_id(key)
        if legacy is not None:
            ids.append(legacy)
    return ids


def same_key(a: PublicKey, b: PublicKey) -> bool:
    """True when two public keys are the same key."""
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    return a.public_bytes(serialization.Encoding.DER, fmt) == b.public_bytes(
        serialization.Encoding.DER, fmt
    )


def as_public_key(key: object) -> PublicKey:
    """Narrow a key from a certificate or PEM to a kind that can sign tokens."""
    if isinstance(
        key,
        rsa.RSAPublicKey
        | ec.EllipticCurvePublicKey
        | ed25519.Ed25519PublicKey
        | ed448.Ed448PublicKey,
    ):
        return key
    raise ValueError(f"unsupported key type {type(key).__name__}")


class TrustedKeys:
    """The public keys tokens may be signed with, indexed by every id they are known by."""

    def __init__(self) -> None:
        self._by_id: dict[str, list[PublicKey]] = {}

    def add(self, key: PublicKey, extra_ids: Iterable[str] = ()) -> None:
        for kid in [*extra_ids, *key_ids(key)]:
            candidates = self._by_id.setdefault(kid, [])
            if not any(same_key(key, known) for known in candidates):
                candidates.append(key)

    def lookup(self, kid: str) -> list[PublicKey]:
        return list(self._by_id.get(kid, ()))

    def contains(self, key: PublicKey) -> bool:
        return any(same_key(key, known) for known in self.lookup(jwk_thumbprint(key)))

    def __len__(self) -> int:
        return len(self._by_id)


def load_certificates(path: Path, key: str) -> list[x509.Certificate]:
    """The certificates of a PEM bundle (``rootcertbundle``)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise AuthConfigError(key, f"cannot read the certificate bundle ({e.strerror})") from None
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise AuthConfigError(key, "the bundle holds no valid PEM certificate") from None
    for cert in certs:
        try:
            as_public_key(cert.public_key())
        except ValueError as e:
            subject = cert.subject.rfc4514_string()
            raise AuthConfigError(key, f"certificate {subject}: {e}") from None
    return certs


def load_jwks(path: Path, key: str) -> list[tuple[str | None, PublicKey]]:
    """The ``(kid, key)`` pairs of a JWKS file."""
    try:
        document = json.loads(path.read_bytes())
    except OSError as e:
        raise AuthConfigError(key, f"cannot read the JWKS file ({e.strerror})") from None
    except ValueError:
        raise AuthConfigError(key, "the JWKS file is not JSON") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise AuthConfigError(key, 'the JWKS file has no "keys" list')
    keys: list[tuple[str | None, PublicKey]] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise AuthConfigError(key, f"keys[{index}] is not an object")
        try:
            public = key_from_jwk(entry)
        except ValueError as e:
            raise AuthConfigError(key, f"keys[{index}]: {e}") from None
        kid = entry.get("kid")
        keys.append((kid if isinstance(kid, str) and kid else None, public))
    return keys
