"""Reading credentials out of an ``Authorization`` header."""

from __future__ import annotations

import base64
import binascii


def parse_basic(authorization: str | None) -> tuple[str, str] | None:
    """``(username, password)`` from a ``Basic`` header, or ``None`` if it is not one."""
    if not authorization:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    if not sep or not username:
        return None
    return username, password


def parse_bearer(authorization: str | None) -> str | None:
    """The token of a ``Bearer`` header, or ``None`` if it is not one."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def quote(value: str) -> str:
    """A challenge parameter value as an HTTP quoted-string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
