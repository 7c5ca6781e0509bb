"""libtrust "pretty" JSON Web Signatures, the envelope of Docker schema1 manifests.

A pretty signature is the signed JSON document itself with a ``signatures`` array
spliced in before its closing brace. Each signature's base64url ``protected`` header
records ``formatLength`` (how many leading bytes of the body belong to the payload) and
``formatTail`` (the bytes that closed the payload, usually ``"\\n}"``), so the exact
signed payload is ``body[:formatLength] + formatTail``: the *canonical* manifest. The
signing input is ``protected + "." + base64url(canonical)``, as in JWS (RFC 7515).

Keys are given as a ``jwk`` (EC P-256/P-384/P-521 or RSA) or as an ``x5c`` certificate
chain whose leaf holds the public key. Like the reference registry, dockyard checks that
every signature verifies under the key that came with it; it does not check the chain
against trusted roots, so a signature proves integrity, not who signed.

Malformed envelopes raise ``ManifestInvalid``; missing keys, unsupported algorithms and
signatures that do not verify raise ``ManifestUnverified``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from dockyard.errors import ManifestInvalid, ManifestUnverified
from dockyard.manifest.fields import unique_members

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

#: JWK curve name -> (curve, JWS algorithm, hash): libtrust ties each curve to one hash.
_CURVES: Final[dict[str, tuple[ec.EllipticCurve, str, type[hashes.HashAlgorithm]]]] = {
    "P-256": (ec.SECP256R1(), "ES256", hashes.SHA256),
    "P-384": (ec.SECP384R1(), "ES384", hashes.SHA384),
    "P-521": (ec.SECP521R1(), "ES512", hashes.SHA512),
}
_RSA_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "RS256": hashes.SHA256,
    "RS384": hashes.SHA384,
    "RS512": hashes.SHA512,
}
_B64URL: Final = re.compile(r"[A-Za-z0-9_-]*={0,2}")


@dataclass(frozen=True, slots=True)
class PrettySignature:
    """A parsed pretty signature: the canonical payload and the signature blocks."""

    payload: bytes
    signatures: tuple[dict[str, Any], ...]


def parse_pretty_signature(body: bytes, raw: dict[str, Any]) -> PrettySignature:
    """Split ``body`` (already decoded as ``raw``) into canonical payload and signatures.

    Raises ``ManifestUnverified`` when there are no signatures at all.
    """
    blocks = raw.get("signatures")
    if blocks is None or blocks == []:
        raise ManifestUnverified("schema1 manifest has no signatures")
    if not isinstance(blocks, list):
        raise ManifestInvalid("signatures must be an array")
    format_length: int | None = None
    format_tail = b""
    for index, block in enumerate(blocks):
        where = f"signatures[{index}]"
        if not isinstance(block, dict):
            raise ManifestInvalid(f"{where} must be an object")
        length, tail = _format_of(block, where)
        if format_length is None:
            format_length, format_tail = length, tail
        elif (length, tail) != (format_length, format_tail):
            raise ManifestInvalid(f"{where} disagrees with the others on the payload format")
    assert format_length is not None
    if format_length > len(body):
        raise ManifestInvalid("signature formatLength exceeds the manifest length")
    return PrettySignature(body[:format_length] + format_tail, tuple(blocks))


def verify(signed: PrettySignature) -> None:
    """Check every signature against its own key; ``ManifestUnverified`` if any fails."""
    encoded_payload = b64url_encode(signed.payload)
    for index, block in enumerate(signed.signatures):
        where = f"signatures[{index}]"
        header = block.get("header")
        if not isinstance(header, dict):
            raise ManifestInvalid(f"{where}.header must be an object")
        algorithm = header.get("alg")
        if not isinstance(algorithm, str):
            raise ManifestInvalid(f"{where}.header.alg must be a string")
        signature = block.get("signature")
        if not isinstance(signature, str):
            raise ManifestInvalid(f"{where}.signature must be a string")
        protected = block["protected"]  # checked by parse_pretty_signature
        signing_input = f"{protected}.{encoded_payload}".encode("ascii")
        key = _key_of(header, where)
        _verify_one(
            key, algorithm, b64url_decode(signature, f"{where}.signature"), signing_input, where
        )


def sign_pretty(
    payload: bytes, key: PrivateKey, *, x5c: list[x509.Certificate] | None = None
) -> bytes:
    """Sign a JSON object document the way libtrust does and return the pretty JWS.

    With ``x5c`` the header carries the certificate chain (leaf first, matching ``key``);
    otherwise it carries the public key as a JWK.
    """
    close = len(payload.rstrip())
    if close == 0 or payload[close - 1 : close] != b"}":
        raise ValueError("payload must be a JSON object")
    format_length = len(payload[: close - 1].rstrip())
    if payload[format_length - 1 : format_length] == b",":
        raise ValueError("payload must not end with a trailing comma")
    protected_header = {
        "formatLength": format_length,
        "formatTail": b64url_encode(payload[format_length:]),
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    protected = b64url_encode(json.dumps(protected_header, separators=(",", ":")).encode())
    signing_input = f"{protected}.{b64url_encode(payload)}".encode("ascii")
    algorithm, signature = _sign_one(key, signing_input)
    header: dict[str, Any]
    if x5c:
        chain = [
            base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode() for cert in x5c
        ]
        header = {"alg": algorithm, "x5c": chain}
    else:
        header = {"jwk": public_jwk(key.public_key()), "alg": algorithm}
    block = {"header": header, "signature": b64url_encode(signature), "protected": protected}
    indent = _detect_indent(payload)
    if indent:
        blocks = json.dumps([block], indent=indent).replace("\n", "\n" + indent)
        splice = f',\n{indent}"signatures": {blocks}\n}}'
    else:
        splice = f',"signatures":{json.dumps([block], separators=(",", ":"))}}}'
    return payload[:format_length] + splice.encode()


def public_jwk(key: PublicKey) -> dict[str, str]:
    """The public key as a JWK with libtrust's ``kid`` (keys sorted, as Go marshals maps)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        crv = _curve_name(key.curve)
        octets = (key.curve.key_size + 7) // 8
        numbers = key.public_numbers()
        return {
            "crv": crv,
            "kid": key_id(key),
            "kty": "EC",
            "x": b64url_encode(numbers.x.to_bytes(octets, "big")),
            "y": b64url_encode(numbers.y.to_bytes(octets, "big")),
        }
    rsa_numbers = key.public_numbers()
    return {
        "e": b64url_encode(_int_bytes(rsa_numbers.e)),
        "kid": key_id(key),
        "kty": "RSA",
        "n": b64url_encode(_int_bytes(rsa_numbers.n)),
    }


def key_id(key: PublicKey) -> str:
    """libtrust's key fingerprint: SHA-256 of the DER SubjectPublicKeyInfo, first 240
    bits, base32 in twelve colon-separated groups of four."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    text = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(text[i : i + 4] for i in range(0, len(text), 4))


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url, as JOSE writes it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, where: str) -> bytes:
    """Decode base64url with or without padding; ``ManifestInvalid`` naming ``where``."""
    text = text.replace("\n", "").replace(" ", "")
    if not _B64URL.fullmatch(text) or len(text.rstrip("=")) % 4 == 1:
        raise ManifestInvalid(f"{where} is not base64url")
    try:
        return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ManifestInvalid(f"{where} is not base64url") from exc


def _format_of(block: dict[str, Any], where: str) -> tuple[int, bytes]:
    protected = block.get("protected")
    if not isinstance(protected, str):
        raise ManifestInvalid(f"{where}.protected must be a string")
    decoded = b64url_decode(protected, f"{where}.protected")
    try:
        header = json.loads(decoded.decode("utf-8"), object_pairs_hook=unique_members)
    except (ValueError, RecursionError) as exc:
        raise ManifestInvalid(f"{where}.protected is not a JSON object") from exc
    if not isinstance(header, dict):
        raise ManifestInvalid(f"{where}.protected is not a JSON object")
    length = header.get("formatLength")
    if isinstance(length, float) and length.is_integer():
        length = int(length)  # Go decodes JSON numbers into float64 here
    if not isinstance(length, int) or isinstance(length, bool) or length < 0:
        raise ManifestInvalid(f"{where}.protected.formatLength must be a non-negative integer")
    tail = header.get("formatTail")
    if not isinstance(tail, str):
        raise ManifestInvalid(f"{where}.protected.formatTail must be a string")
    return length, b64url_decode(tail, f"{where}.protected.formatTail")


def _key_of(header: dict[str, Any], where: str) -> PublicKey:
    chain = header.get("x5c")
    if chain:
        if not isinstance(chain, list) or not isinstance(chain[0], str):
            raise ManifestInvalid(f"{where}.header.x5c must be an array of strings")
        try:
            der = base64.b64decode(chain[0], validate=True)
            leaf = x509.load_der_x509_certificate(der)
            key = leaf.public_key()
        except (binascii.Error, ValueError, UnsupportedAlgorithm) as exc:
            raise ManifestUnverified(f"{where}.header.x5c[0] is not a certificate") from exc
        if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise ManifestUnverified(f"{where}: certificate key type is not supported")
        return key
    jwk = header.get("jwk")
    if jwk is None:
        raise ManifestUnverified(f"{where} has no key (jwk or x5c) to verify with")
    if not isinstance(jwk, dict):
        raise ManifestInvalid(f"{where}.header.jwk must be an object")
    return _key_from_jwk(jwk, f"{where}.header.jwk")


def _key_from_jwk(jwk: dict[str, Any], where: str) -> PublicKey:
    kty = jwk.get("kty")
    key: PublicKey
    try:
        if kty == "EC":
            crv = jwk.get("crv")
            if not isinstance(crv, str) or crv not in _CURVES:
                raise ManifestUnverified(f"{where}.crv is not a supported curve")
            x = int.from_bytes(_jwk_bytes(jwk, "x", where), "big")
            y = int.from_bytes(_jwk_bytes(jwk, "y", where), "big")
            key = ec.EllipticCurvePublicNumbers(x, y, _CURVES[crv][0]).public_key()
        elif kty == "RSA":
            n = int.from_bytes(_jwk_bytes(jwk, "n", where), "big")
            e = int.from_bytes(_jwk_bytes(jwk, "e", where), "big")
            key = rsa.RSAPublicNumbers(e, n).public_key()
        else:
            raise ManifestUnverified(f"{where}.kty is not a supported key type")
    except ValueError as exc:
        # cryptography refuses points off the curve and degenerate RSA numbers.
        raise ManifestUnverified(f"{where} is not a valid public key") from exc
    kid = jwk.get("kid")
    if kid is not None and kid != key_id(key):
        raise ManifestInvalid(f"{where}.kid does not match the key")
    return key


def _jwk_bytes(jwk: dict[str, Any], name: str, where: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise ManifestInvalid(f"{where}.{name} must be a string")
    return b64url_decode(value, f"{where}.{name}")


def _verify_one(
    key: PublicKey, algorithm: str, signature: bytes, signing_input: bytes, where: str
) -> None:
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            _, expected, hash_type = _CURVES[_curve_name(key.curve)]
            if algorithm != expected:
                raise ManifestUnverified(
                    f"{where}: algorithm {algorithm[:16]!r} does not fit the key's curve"
                )
            octets = (key.curve.key_size + 7) // 8
            if len(signature) != 2 * octets:
                raise ManifestUnverified(f"{where}: signature has the wrong length")
            r = int.from_bytes(signature[:octets], "big")
            s = int.from_bytes(signature[octets:], "big")
            key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hash_type()))
        else:
            rsa_hash = _RSA_HASHES.get(algorithm)
            if rsa_hash is None:
                raise ManifestUnverified(
                    f"{where}: algorithm {algorithm[:16]!r} is not supported for RSA keys"
                )
            key.verify(signature, signing_input, padding.PKCS1v15(), rsa_hash())
    except (InvalidSignature, ValueError, UnsupportedAlgorithm) as exc:
        # ValueError/UnsupportedAlgorithm: keys OpenSSL will not verify with (too large…).
        raise ManifestUnverified(f"{where} does not verify") from exc


def _sign_one(key: PrivateKey, signing_input: bytes) -> tuple[str, bytes]:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        _, algorithm, hash_type = _CURVES[_curve_name(key.curve)]
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hash_type())))
        octets = (key.curve.key_size + 7) // 8
        return algorithm, r.to_bytes(octets, "big") + s.to_bytes(octets, "big")
    return "RS256", key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())


def _curve_name(curve: ec.EllipticCurve) -> str:
    for name, (known, _, _) in _CURVES.items():
        if known.name == curve.name:
            return name
    raise ManifestUnverified(f"curve {curve.name} is not supported")


def _int_bytes(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def _detect_indent(payload: bytes) -> str:
    # libtrust re-indents the signatures with the payload's own indent.
    if len(payload) > 2 and payload[:2] == b"{\n":
        quote = payload.find(b'"', 1)
        if quote > 1:
            return payload[2:quote].decode("ascii", "replace")
    return ""
