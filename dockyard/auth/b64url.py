"""Unpadded base64url, as JOSE uses it (RFC 7515 section 2)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final

_ALPHABET: Final = re.compile(r"[A-Za-z0-9_-]*")


def encode(data: bytes) -> str:
    """Encode without ``=`` padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode(text: str) -> bytes:
    """Decode unpadded base64url strictly; raises ``ValueError`` on anything else."""
    if not _ALPHABET.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise ValueError("not unpadded base64url") from None


def encode_uint(value: int, length: int | None = None) -> str:
    """Encode a non-negative integer big-endian (JWK ``n``, ``e``, ``x``, ``y``)."""
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return encode(value.to_bytes(size, "big"))


def decode_uint(text: str) -> int:
    return int.from_bytes(decode(text), "big")
