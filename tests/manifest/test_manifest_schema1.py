"""Signed Docker schema1 manifests: libtrust JWS verification, digests, layers."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from dockyard.digest import Digest
from dockyard.errors import ManifestInvalid, ManifestUnverified
from dockyard.manifest import parse_manifest
from dockyard.manifest.base import DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED
from dockyard.manifest.libtrust import PrivateKey, key_id
from dockyard.manifest.schema1 import SCHEMA1_LAYER, canonical_payload, resign, sign_schema1

DATA = Path(__file__).parent / "data"
LAYER_A = str(Digest.of(b"layer a"))
LAYER_B = str(Digest.of(b"layer b"))


def schema1_json(name: str = "library/hello") -> dict[str, Any]:
    """An unsigned schema1 manifest with three layers, two of them the same blob."""
    return {
        "schemaVersion": 1,
        "name": name,
        "tag": "latest",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": LAYER_A}, {"blobSum": LAYER_B}, {"blobSum": LAYER_A}],
        "history": [{"v1Compatibility": json.dumps({"id": str(i)})} for i in range(3)],
    }


def self_signed(key: PrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dockyard test")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def signed(p256: ec.EllipticCurvePrivateKey) -> bytes:
    return sign_schema1(schema1_json(), p256)


def signature_block(body: bytes) -> dict[str, Any]:
    block: dict[str, Any] = json.loads(body)["signatures"][0]
    return block


def replace_signatures(body: bytes, signatures: Any) -> bytes:
    """Rewrite the signatures array, keeping the payload bytes as they are."""
    start = body.rindex(b',\n   "signatures"')
    return body[:start] + b',"signatures":' + json.dumps(signatures).encode() + b"}"


# --- real-world vector ----------------------------------------------------------------


def test_libtrust_signed_busybox_manifest_verifies() -> None:
    # docker.io/busybox:1.23 as signed by libtrust (a fixture of openshift/origin's tests).
    body = (DATA / "busybox-1.23-schema1.json").read_bytes()
    manifest = parse_manifest(body, DOCKER_SCHEMA1_SIGNED)
    assert manifest.media_type == DOCKER_SCHEMA1_SIGNED
    assert [str(d.digest) for d in manifest.layers] == [
        "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4",
        "sha256:9d7588d3c0635b53bd9a7dcd40bdf5d2d32cd3fb919c3a29ec2febbc2449eb19",
    ]


def test_libtrust_vector_digest_is_sha256_of_body_without_signatures() -> None:
    body = (DATA / "busybox-1.23-schema1.json").read_bytes()
    canonical = body[: body.index(b',\n   "signatures"')] + b"\n}"
    assert parse_manifest(body, None).digest == Digest.of(canonical)


def test_key_id_matches_libtrust_kid_of_vector() -> None:
    body = (DATA / "busybox-1.23-schema1.json").read_bytes()
    jwk = signature_block(body)["header"]["jwk"]
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(base64.urlsafe_b64decode(jwk["x"] + "="), "big"),
        int.from_bytes(base64.urlsafe_b64decode(jwk["y"] + "="), "big"),
        ec.SECP256R1(),
    )
    assert key_id(numbers.public_key()) == jwk["kid"]


def test_history_shorter_than_fs_layers_is_invalid() -> None:
    # Validly signed by libtrust, but refused by the reference for this mismatch too.
    body = (DATA / "busybox-1.23-schema1-short-history.json").read_bytes()
    with pytest.raises(ManifestInvalid, match="same length"):
        parse_manifest(body, DOCKER_SCHEMA1_SIGNED)


# --- sign and verify round trips ---------------------------------------------------------


@pytest.mark.parametrize(
    ("curve", "alg"),
    [(ec.SECP256R1(), "ES256"), (ec.SECP384R1(), "ES384"), (ec.SECP521R1(), "ES512")],
    ids=["P-256", "P-384", "P-521"],
)
def test_ec_jwk_signature_round_trips(curve: ec.EllipticCurve, alg: str) -> None:
    body = sign_schema1(schema1_json(), ec.generate_private_key(curve))
    assert signature_block(body)["header"]["alg"] == alg
    assert parse_manifest(body, DOCKER_SCHEMA1_SIGNED).media_type == DOCKER_SCHEMA1_SIGNED


def test_rsa_jwk_signature_round_trips() -> None:
    body = sign_schema1(schema1_json(), rsa.generate_private_key(65537, 2048))
    header = signature_block(body)["header"]
    assert header["alg"] == "RS256"
    assert header["jwk"]["kty"] == "RSA"
    assert parse_manifest(body, DOCKER_SCHEMA1_SIGNED).digest == Digest.of(
        canonical_payload(parse_manifest(body, None))
    )


def test_ec_x5c_signature_round_trips(p256: ec.EllipticCurvePrivateKey) -> None:
    body = sign_schema1(schema1_json(), p256, x5c=[self_signed(p256)])
    header = signature_block(body)["header"]
    assert "jwk" not in header
    assert len(header["x5c"]) == 1
    parse_manifest(body, DOCKER_SCHEMA1_SIGNED)


def test_rsa_x5c_signature_round_trips() -> None:
    key = rsa.generate_private_key(65537, 2048)
    body = sign_schema1(schema1_json(), key, x5c=[self_signed(key)])
    parse_manifest(body, DOCKER_SCHEMA1_SIGNED)


def test_x5c_leaf_of_another_key_is_unverified(p256: ec.EllipticCurvePrivateKey) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    body = sign_schema1(schema1_json(), p256, x5c=[self_signed(other)])
    with pytest.raises(ManifestUnverified):
        parse_manifest(body, DOCKER_SCHEMA1_SIGNED)


def test_signed_output_has_libtrust_pretty_layout(signed: bytes) -> None:
    assert signed.startswith(b'{\n   "schemaVersion": 1,\n')
    assert b'\n   ],\n   "signatures": [\n      {\n         "header": {\n' in signed
    assert signed.endswith(b"\n   ]\n}")


def test_every_signature_must_verify(p256: ec.EllipticCurvePrivateKey, signed: bytes) -> None:
    other = sign_schema1(schema1_json(), ec.generate_private_key(ec.SECP384R1()))
    good = signature_block(signed)
    assert parse_manifest(replace_signatures(signed, [good, signature_block(other)]), None)
    broken = dict(signature_block(other), signature=good["signature"])
    with pytest.raises(ManifestUnverified):
        parse_manifest(replace_signatures(signed, [good, broken]), None)


# --- what the parsed manifest says -------------------------------------------------------


def test_digest_is_sha256_of_canonical_payload(signed: bytes) -> None:
    canonical = json.dumps(schema1_json(), indent=3).encode()
    manifest = parse_manifest(signed, DOCKER_SCHEMA1_SIGNED)
    assert manifest.digest == Digest.of(canonical)
    assert canonical_payload(manifest) == canonical


def test_body_is_kept_with_signatures(signed: bytes) -> None:
    manifest = parse_manifest(signed, DOCKER_SCHEMA1_SIGNED)
    assert manifest.body == signed
    assert "signatures" not in manifest.raw


def test_resigning_keeps_the_digest(signed: bytes) -> None:
    manifest = parse_manifest(signed, DOCKER_SCHEMA1_SIGNED)
    again = resign(canonical_payload(manifest), rsa.generate_private_key(65537, 2048))
    assert again != signed
    assert parse_manifest(again, DOCKER_SCHEMA1_SIGNED).digest == manifest.digest


def test_layers_are_blob_sums_deduplicated_in_order(signed: bytes) -> None:
    manifest = parse_manifest(signed, DOCKER_SCHEMA1_SIGNED)
    assert [str(d.digest) for d in manifest.layers] == [LAYER_A, LAYER_B]
    assert {d.media_type for d in manifest.layers} == {SCHEMA1_LAYER}
    assert manifest.config is None


@pytest.mark.parametrize("content_type", [DOCKER_SCHEMA1, None, "application/json"])
def test_schema1_accepted_under_other_content_types(
    content_type: str | None, signed: bytes
) -> None:
    assert parse_manifest(signed, content_type).media_type == DOCKER_SCHEMA1_SIGNED


# --- refusals -----------------------------------------------------------------------------


def test_tampered_payload_is_unverified(signed: bytes) -> None:
    tampered = signed.replace(b'"tag": "latest"', b'"tag": "lateST"')
    with pytest.raises(ManifestUnverified):
        parse_manifest(tampered, DOCKER_SCHEMA1_SIGNED)


def test_tampered_signature_is_unverified(signed: bytes) -> None:
    block = signature_block(signed)
    raw = bytearray(base64.urlsafe_b64decode(block["signature"] + "=="))
    raw[5] ^= 0x01
    block["signature"] = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(ManifestUnverified):
        parse_manifest(replace_signatures(signed, [block]), DOCKER_SCHEMA1_SIGNED)


def test_tampered_protected_header_is_unverified(signed: bytes) -> None:
    block = signature_block(signed)
    header = json.loads(base64.urlsafe_b64decode(block["protected"] + "=="))
    header["time"] = "2000-01-01T00:00:00Z"
    block["protected"] = base64.urlsafe_b64encode(json.dumps(header).encode()).decode()
    with pytest.raises(ManifestUnverified):
        parse_manifest(replace_signatures(signed, [block]), DOCKER_SCHEMA1_SIGNED)


def test_missing_signatures_are_unverified(signed: bytes) -> None:
    unsigned = json.dumps(schema1_json(), indent=3).encode()
    with pytest.raises(ManifestUnverified, match="no signatures"):
        parse_manifest(unsigned, DOCKER_SCHEMA1_SIGNED)


def test_empty_signatures_are_unverified(signed: bytes) -> None:
    with pytest.raises(ManifestUnverified, match="no signatures"):
        parse_manifest(replace_signatures(signed, []), DOCKER_SCHEMA1_SIGNED)


def test_signature_without_key_is_unverified(signed: bytes) -> None:
    block = signature_block(signed)
    del block["header"]["jwk"]
    with pytest.raises(ManifestUnverified, match="no key"):
        parse_manifest(replace_signatures(signed, [block]), DOCKER_SCHEMA1_SIGNED)


def test_algorithm_not_matching_curve_is_unverified(signed: bytes) -> None:
    block = signature_block(signed)
    block["header"]["alg"] = "ES384"
    with pytest.raises(ManifestUnverified, match="curve"):
        parse_manifest(replace_signatures(signed, [block]), DOCKER_SCHEMA1_SIGNED)


def test_jwk_kid_not_matching_key_is_invalid(signed: bytes) -> None:
    block = signature_block(signed)
    block["header"]["jwk"]["kid"] = "AAAA:" * 11 + "AAAA"
    with pytest.raises(ManifestInvalid, match="kid"):
        parse_manifest(replace_signatures(signed, [block]), DOCKER_SCHEMA1_SIGNED)


def test_jwk_point_off_the_curve_is_unverified(signed: bytes) -> None:
    block = signature_block(signed)
    del block["header"]["jwk"]["kid"]
    block["header"]["jwk"]["y"] = block["header"]["jwk"]["x"]
    with pytest.raises(ManifestUnverified):
        parse_manifest(replace_signatures(signed, [block]), DOCKER_SCHEMA1_SIGNED)


def test_format_length_beyond_body_is_invalid(signed: bytes) -> None:
    block = signature_block(signed)
    header = {"formatLength": len(signed) + 1, "formatTail": "Cn0"}
    block["protected"] = base64.urlsafe_b64encode(json.dumps(header).encode()).decode()
    with pytest.raises(ManifestInvalid, match="formatLength"):
        parse_manifest(replace_signatures(signed, [block]), DOCKER_SCHEMA1_SIGNED)


def test_protected_header_that_is_not_base64url_is_invalid(signed: bytes) -> None:
    block = dict(signature_block(signed), protected="***")
    with pytest.raises(ManifestInvalid, match="protected"):
        parse_manifest(replace_signatures(signed, [block]), DOCKER_SCHEMA1_SIGNED)


def test_signatures_that_are_not_an_array_are_invalid(signed: bytes) -> None:
    with pytest.raises(ManifestInvalid, match="signatures must be an array"):
        parse_manifest(replace_signatures(signed, {"a": 1}), DOCKER_SCHEMA1_SIGNED)


def test_invalid_blob_sum_is_invalid(p256: ec.EllipticCurvePrivateKey) -> None:
    manifest = schema1_json()
    manifest["fsLayers"][0]["blobSum"] = "sha256:nope"
    with pytest.raises(ManifestInvalid, match=r"fsLayers\[0\]\.blobSum"):
        parse_manifest(sign_schema1(manifest, p256), DOCKER_SCHEMA1_SIGNED)


def test_invalid_repository_name_is_invalid(p256: ec.EllipticCurvePrivateKey) -> None:
    body = sign_schema1(schema1_json(name="Not/Valid"), p256)
    with pytest.raises(ManifestInvalid, match="name"):
        parse_manifest(body, DOCKER_SCHEMA1_SIGNED)


def test_schema_version_2_payload_is_invalid(p256: ec.EllipticCurvePrivateKey) -> None:
    manifest = dict(schema1_json(), schemaVersion=2)
    with pytest.raises(ManifestInvalid, match="schemaVersion"):
        parse_manifest(sign_schema1(manifest, p256), DOCKER_SCHEMA1_SIGNED)
