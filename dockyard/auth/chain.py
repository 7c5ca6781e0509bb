"""Verifying a token's ``x5c`` certificate chain against the configured root bundle."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from dockyard.auth.jwt import TokenInvalid
from dockyard.auth.keys import PublicKey, as_public_key

_MAX_DEPTH: Final = 8


def _load(encoded: object) -> x509.Certificate:
    if not isinstance(encoded, str):
        raise TokenInvalid("malformed x5c certificate chain")
    try:
        return x509.load_der_x509_certificate(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        raise TokenInvalid("malformed x5c certificate chain") from None


def _valid_at(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def verify_chain(x5c: object, roots: list[x509.Certificate], now: datetime) -> PublicKey:
    """The leaf's public key, once the chain is shown to lead to a trusted root."""
    if not isinstance(x5c, list) or not x5c or len(x5c) > _MAX_DEPTH:
        raise TokenInvalid("malformed x5c certificate chain")
    if not roots:
        raise TokenInvalid("no root certificates are configured to verify x5c chains")
    try:
        return _walk([_load(item) for item in x5c], roots, now)
    except TokenInvalid:
        raise
    except Exception:
        # Certificates are parsed lazily: a malformed extension (duplicated, wrongly
        # encoded) surfaces only when read, as DuplicateExtension, ValueError and kin.
        raise TokenInvalid("malformed x5c certificate chain") from None


def _walk(certs: list[x509.Certificate], roots: list[x509.Certificate], now: datetime) -> PublicKey:
    leaf, pool = certs[0], certs[1:]
    current = leaf
    for _ in range(_MAX_DEPTH):
        if not _valid_at(current, now):
            raise TokenInvalid("a certificate of the x5c chain is expired or not yet valid")
        # Roots are trusted as configured (as Go's x509 does); intermediates must be CAs.
        if current in roots or any(
            _valid_at(root, now) and _issued_by(current, root) for root in roots
        ):
            try:
                return as_public_key(leaf.public_key())
            except ValueError:
                raise TokenInvalid("the x5c leaf certificate holds an unsupported key") from None
        parent = next((c for c in pool if _is_ca(c) and _issued_by(current, c)), None)
        if parent is None:
            break
        pool.remove(parent)
        current = parent
    raise TokenInvalid("the x5c certificate chain does not lead to a trusted root")
