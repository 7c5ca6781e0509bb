"""Bearer-token authorization, as the Docker token specification describes it.

A request without a token, or with one that does not verify, gets a ``401`` whose
challenge names the token service and exactly the scope the request needs::

    Bearer realm="https://auth.example.com/token",service="registry",scope="repository:a/b:pull,push"

A token that verifies but does not grant that scope gets the same challenge with
``error="insufficient_scope"``; a bad one gets ``error="invalid_token"``. The signing key
is found through the token's ``x5c`` chain (verified against ``rootcertbundle``), its
``jwk`` header (only if that key is trusted), or its ``kid`` among the trusted keys.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from cryptography import x509

from dockyard.auth import jwt
from dockyard.auth.base import Access, AuthChallenge, Principal, Request
from dockyard.auth.chain import verify_chain
from dockyard.auth.credentials import parse_bearer, quote
from dockyard.auth.jwt import TokenInvalid
from dockyard.auth.keys import PublicKey, TrustedKeys, key_from_jwk
from dockyard.auth.scope import permits, scope_param
from dockyard.lru import ByteBoundedLRU
from dockyard.memory_size import deep_size

if TYPE_CHECKING:
    from dockyard.auth.tokenserver import TokenServer

log = logging.getLogger(__name__)

DEFAULT_LEEWAY: Final = 60.0
DEFAULT_ALGORITHMS: Final = frozenset(jwt.ALGORITHMS)
_MAX_TIMESTAMP: Final = 2**53
#: Verified tokens remembered at most, and the memory they may hold (``deep_size`` of
#: each, plus its key): past either, the memo is emptied.
_CACHE_LIMIT: Final = 4096
_CACHE_MAX_BYTES: Final = 4 << 20
_CACHE_ENTRY_OVERHEAD: Final = 160


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """What a verified token says: who it was issued to and what it grants."""

    subject: str | None
    granted: tuple[Access, ...]
    claims: dict[str, Any]
    expires: float
    not_before: float | None = None
    issued_at: float | None = None


def _time(claims: dict[str, Any], name: str) -> float | None:
    """A NumericDate claim in seconds, or None when absent."""
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenInvalid(f"token {name} claim is not a number")
    if isinstance(value, int) and abs(value) > _MAX_TIMESTAMP:
        raise TokenInvalid(f"token {name} claim is out of range")
    return float(value)


def _access_claim(claims: dict[str, Any]) -> tuple[Access, ...]:
    raw = claims.get("access", [])
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise TokenInvalid("token access claim is not a list")
    granted: list[Access] = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise TokenInvalid("token access claim entry is not an object")
        kind, name, actions = entry.get("type"), entry.get("name"), entry.get("actions", [])
        if not isinstance(kind, str) or not isinstance(name, str) or not isinstance(actions, list):
            raise TokenInvalid("token access claim entry is malformed")
        if not all(isinstance(a, str) for a in actions):
            raise TokenInvalid("token access claim actions are malformed")
        granted.append(Access(kind, name, tuple(actions)))
    return tuple(granted)


class TokenVerifier:
    """Checks a token's signature and claims against one issuer and one service.

    Tokens that verified are remembered by their SHA-256, at most ``_CACHE_LIMIT`` of
    them holding at most ``_CACHE_MAX_BYTES`` (4 MiB) of memory, the least recently used
    dropped first.
    """

    def __init__(
        self,
        *,
        issuer: str,
        service: str,
        trusted: TrustedKeys,
        roots: Sequence[x509.Certificate] = (),
        algorithms: frozenset[str] = DEFAULT_ALGORITHMS,
        leeway: float = DEFAULT_LEEWAY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.service = service
        self.trusted = trusted
        self.roots = list(roots)
        self.algorithms = algorithms
        self.leeway = leeway
        self.clock = clock
        self._verified: ByteBoundedLRU[bytes, VerifiedToken] = ByteBoundedLRU(
            _CACHE_MAX_BYTES, max_entries=_CACHE_LIMIT
        )

    def verify(self, raw: str) -> VerifiedToken:
        """The token's subject and grants; raises ``TokenInvalid`` for any flaw.

        A token that verified before is not verified again (its signature and claims
        cannot have changed), but its times are checked on every use.
        """
        now = self.clock()
        digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).digest()
        verified = self._verified.get(digest)
        if verified is None:
            try:
                verified, cacheable = self._verify_uncached(raw, now)
            except TokenInvalid:
                raise
            except Exception as e:
                # Whatever a crafted token trips in a parser is a bad credential (401),
                # never a server error; the kind is logged so that the parser can be mended.
                log.warning("a malformed token raised %s while being verified", type(e).__name__)
                raise TokenInvalid("malformed token") from None
            if cacheable:
                self._remember(digest, verified)
        try:
            self._check_times(verified, now)
        except TokenInvalid:
            self._verified.pop(digest)
            raise
        return verified

    def _verify_uncached(self, raw: str, now: float) -> tuple[VerifiedToken, bool]:
        """The verified token, and whether it may be remembered (an x5c chain's validity
        depends on the time, so such tokens are checked in full every time)."""
        token = jwt.parse(raw)
        if token.header["alg"] not in self.algorithms:
            raise TokenInvalid(f"signing algorithm {token.header['alg']!r} is not accepted")
        self._verify_signature(token, now)
        claims = token.claims
        if claims.get("iss") != self.issuer:
            raise TokenInvalid("token is from an untrusted issuer")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.service not in audiences:
            raise TokenInvalid("token is intended for another audience")
        expires = _time(claims, "exp")
        if expires is None:
            raise TokenInvalid("token has no exp claim")
        subject = claims.get("sub")
        verified = VerifiedToken(
            subject if isinstance(subject, str) and subject else None,
            _access_claim(claims),
            claims,
            expires=expires,
            not_before=_time(claims, "nbf"),
            issued_at=_time(claims, "iat"),
        )
        self._check_times(verified, now)
        return verified, "x5c" not in token.header

    def _remember(self, digest: bytes, verified: VerifiedToken) -> None:
        """Keep a verified token, within ``_CACHE_LIMIT`` entries and ``_CACHE_MAX_BYTES``."""
        self._verified.put(digest, verified, deep_size(verified) + _CACHE_ENTRY_OVERHEAD)

    @property
    def cached_bytes(self) -> int:
        """The memory the remembered tokens hold, as charged against ``_CACHE_MAX_BYTES``."""
        return self._verified.charged_bytes

    def _check_times(self, token: VerifiedToken, now: float) -> None:
        if now > token.expires + self.leeway:
            raise TokenInvalid("token has expired")
        if token.not_before is not None and now < token.not_before - self.leeway:
            raise TokenInvalid("token is not valid yet")
        if token.issued_at is not None and now < token.issued_at - self.leeway:
            raise TokenInvalid("token was issued in the future")

    def _candidates(self, header: dict[str, Any], now: float) -> list[PublicKey]:
        if "x5c" in header:
            when = datetime.fromtimestamp(now, UTC)
            return [verify_chain(header["x5c"], self.roots, when)]
        if "jwk" in header:
            if not isinstance(header["jwk"], dict):
                raise TokenInvalid("malformed jwk header")
            try:
                key = key_from_jwk(header["jwk"])
            except ValueError:
                raise TokenInvalid("malformed jwk header") from None
            if not self.trusted.contains(key):
                raise TokenInvalid("token is signed by an untrusted key")
            return [key]
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenInvalid("token names no signing key")
        candidates = self.trusted.lookup(kid)
        if not candidates:
            raise TokenInvalid("token is signed by an unknown key")
        return candidates

    def _verify_signature(self, token: jwt.UnverifiedToken, now: float) -> None:
        failure = TokenInvalid("token signature is invalid")
        for key in self._candidates(token.header, now):
            try:
                jwt.verify_signature(token, key, self.algorithms)
            except TokenInvalid as e:
                failure = e
            else:
                return
        raise failure


class TokenAuthorizer:
    """An ``Authorizer`` that accepts bearer tokens from a trusted token service."""

    def __init__(
        self,
        realm: str,
        verifier: TokenVerifier,
        routes: Sequence[object] = (),
        server: TokenServer | None = None,
    ) -> None:
        self.realm = realm
        self.verifier = verifier
        self._routes = list(routes)
        #: The built-in token server issuing the tokens, when it runs in this process
        #: (the web interface signs its users in against it).
        self.server = server

    def challenge(self, access: Sequence[Access], error: str | None = None) -> str:
        """The ``WWW-Authenticate`` value for a request needing ``access``."""
        parts = [f"Bearer realm={quote(self.realm)}", f"service={quote(self.verifier.service)}"]
        scope = scope_param(access)
        if scope:
            parts.append(f"scope={quote(scope)}")
        if error:
            parts.append(f"error={quote(error)}")
        return ",".join(parts)

    async def authorize(self, request: Request, access: list[Access]) -> Principal:
        needed = tuple(access)
        asked = (*needed, *request.optional)
        raw = parse_bearer(request.authorization)
        if raw is None:
            raise AuthChallenge(
                self.challenge(asked), "authorization token required", access=needed
            )
        try:
            token = self.verifier.verify(raw)
        except TokenInvalid as e:
            log.info("rejected a bearer token from %s: %s", request.remote_addr, e.message)
            raise AuthChallenge(
                self.challenge(asked, "invalid_token"), "invalid token", access=needed
            ) from None
        if not all(permits(token.granted, a) for a in needed):
            raise AuthChallenge(
                self.challenge(asked, "insufficient_scope"),
                "insufficient scope",
                insufficient_scope=True,
                access=needed,
            )
        return Principal(token.subject, token.granted)

    def routes(self) -> list[object]:
        return list(self._routes)
