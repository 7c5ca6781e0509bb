"""Browser sessions of the web interface: a signed cookie, and the CSRF token inside it.

The cookie carries ``{user, fingerprint, csrf, expires}`` signed with a key derived from
``http.secret``, so every worker and instance sharing the secret accepts it and no
server-side state is kept. Every visitor gets one (anonymous ones too, so that the
sign-in form itself is protected against cross-site posting); signing in or out issues
a new one with a new CSRF token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Final

COOKIE_NAME: Final = "dockyard_ui"
#: How long a session lasts without signing in again.
SESSION_LIFETIME: Final = 12 * 3600
_MAX_COOKIE: Final = 2048


@dataclass(frozen=True, slots=True)
class Session:
    """What one browser's cookie says."""

    username: str | None
    fingerprint: str | None
    csrf: str
    expires: int

    @property
    def signed_in(self) -> bool:
        return self.username is not None


class SessionCodec:
    """Turns sessions into cookie values and back, refusing anything not signed by us."""

    def __init__(self, secret: bytes, lifetime: int = SESSION_LIFETIME) -> None:
        self._key = hmac.new(secret, b"dockyard-ui-session", hashlib.sha256).digest()
        self.lifetime = lifetime

    def new(self, username: str | None = None, fingerprint: str | None = None) -> Session:
        """A fresh session with a new CSRF token."""
        return Session(
            username, fingerprint, secrets.token_urlsafe(24), int(time.time()) + self.lifetime
        )

    def encode(self, session: Session) -> str:
        payload = json.dumps(
            [session.username, session.fingerprint, session.csrf, session.expires],
            separators=(",", ":"),
        ).encode()
        body = base64.urlsafe_b64encode(payload).rstrip(b"=")
        signature = base64.urlsafe_b64encode(self._sign(body)).rstrip(b"=")
        return (body + b"." + signature).decode("ascii")

    def decode(self, value: str | None) -> Session | None:
        """The session a cookie value holds, or None if it is absent, forged or expired."""
        if not value or len(value) > _MAX_COOKIE or value.count(".") != 1:
            return None
        body, _, signature = value.encode("ascii", "replace").partition(b".")
        try:
            given = base64.urlsafe_b64decode(signature + b"=" * (-len(signature) % 4))
            if not hmac.compare_digest(given, self._sign(body)):
                return None
            fields = json.loads(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
        except (binascii.Error, ValueError):
            return None
        if not isinstance(fields, list) or len(fields) != 4:
            return None
        username, fingerprint, csrf, expires = fields
        if not (
            isinstance(username, str | None)
            and isinstance(fingerprint, str | None)
            and isinstance(csrf, str)
            and isinstance(expires, int)
        ):
            return None
        if expires < time.time():
            return None
        return Session(username, fingerprint, csrf, expires)

    def _sign(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()


def csrf_matches(session: Session, submitted: str | None) -> bool:
    """Whether a form's CSRF token is this session's (constant-time)."""
    if not submitted:
        return False
    return hmac.compare_digest(session.csrf.encode(), submitted.encode("utf-8", "replace"))


def cookie_header(value: str, *, path: str, secure: bool, max_age: int) -> str:
    """A ``Set-Cookie`` value: HttpOnly, SameSite=Lax, Secure over TLS, scoped to ``path``."""
    parts = [f"{COOKIE_NAME}={value}", f"Path={path}", f"Max-Age={max_age}", "HttpOnly"]
    parts.append("SameSite=Lax")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)
