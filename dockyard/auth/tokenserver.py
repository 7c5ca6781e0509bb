"""dockyard's built-in token server: the endpoint docker, podman, containerd and skopeo
ask for bearer tokens, served by the same process as the registry.

Configured next to ``auth.token`` (whose ``realm``, ``service`` and ``issuer`` it uses)::

    auth:
      token:
        realm: https://registry.example.com/auth/token
        service: registry.example.com
        issuer: dockyard
      tokenserver:
        enabled: true                    # default true when the section is present
        htpasswd: /etc/dockyard/htpasswd # the users (bcrypt); omit for anonymous only
        key: /etc/dockyard/token.pem     # optional; else generated in the data folder
        expiration: 5m                   # access token lifetime
        refreshexpiration: 720h          # refresh (offline) token lifetime
        path: /auth/token                # optional; default: the realm's path
        jwkspath: /auth/jwks.json        # where the public key is published
        groups:
          admins: [alice]
        rules: [...]                     # see dockyard.auth.rules

The token endpoint answers

- ``GET`` with optional Basic credentials, ``service``, any number of ``scope``,
  ``offline_token=true`` (adds a refresh token), ``account`` and ``client_id``;
- the OAuth2 ``POST`` form: ``grant_type=password`` (``username``, ``password``,
  ``access_type=offline`` for a refresh token) and ``grant_type=refresh_token``;

with ``{token, access_token, expires_in, issued_at[, refresh_token]}``. Callers without
credentials get what the rules allow anonymous callers; wrong credentials get ``401``.
``account`` is informational: a token's subject is always the authenticated user.
Refresh tokens are signed like access tokens but for a different audience, and they
stop working when the user is removed or their password changes.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs

from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dockyard.auth import jwt
from dockyard.auth.base import Access
from dockyard.auth.credentials import parse_basic, quote
from dockyard.auth.htpasswd import HtpasswdFile
from dockyard.auth.jwt import TokenInvalid
from dockyard.auth.keys import TrustedKeys
from dockyard.auth.ratelimit import AttemptLimiter, TooManyAttempts
from dockyard.auth.rules import AccessRules, rules_from_config
from dockyard.auth.scope import parse_scopes
from dockyard.auth.signingkey import SigningKey, generated_signing_key, load_signing_key
from dockyard.auth.token import TokenVerifier
from dockyard.config.model import TokenAuthConfig, TokenServerAuthConfig

log = logging.getLogger(__name__)

_MAX_FORM: Final = 64 * 1024
_MAX_SCOPES: Final = 100
_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """An access token, with what it grants, and perhaps a refresh token."""

    token: str
    granted: tuple[Access, ...]
    expires_in: int
    issued_at: float
    refresh_token: str | None = None

    def body(self) -> dict[str, Any]:
        issued = datetime.fromtimestamp(self.issued_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body: dict[str, Any] = {
            "token": self.token,
            "access_token": self.token,
            "expires_in": self.expires_in,
            "issued_at": issued,
            "scope": " ".join(a.scope for a in self.granted),
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        return body


class TokenServer:
    """Issues bearer tokens to the users of an htpasswd file, as the rules allow."""

    def __init__(
        self,
        *,
        service: str,
        issuer: str,
        signing_key: SigningKey,
        rules: AccessRules,
        users: HtpasswdFile | None = None,
        expiration: float = 300.0,
        refresh_expiration: float = 30 * 86400.0,
        path: str = "/auth/token",
        jwks_path: str = "/auth/jwks.json",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.issuer = issuer
        self.signing_key = signing_key
        self.rules = rules
        self.users = users
        self.expiration = expiration
        self.refresh_expiration = refresh_expiration
        self.path = path
        self.jwks_path = jwks_path
        self.clock = clock
        own = TrustedKeys()
        own.add(signing_key.public_key, [signing_key.kid])
        self._refresh_verifier = TokenVerifier(
            issuer=issuer,
            service=self.refresh_audience,
            trusted=own,
            algorithms=frozenset({signing_key.algorithm}),
            leeway=0,
            clock=clock,
        )

    @property
    def refresh_audience(self) -> str:
        # A refresh token must never pass as an access token for the registry.
        return f"{self.service}#refresh"

    def _sign(self, claims: dict[str, Any]) -> str:
        header = {"typ": "JWT", "alg": self.signing_key.algorithm, "kid": self.signing_key.kid}
        return jwt.encode(header, claims, self.signing_key.private_key)

    def _claims(self, subject: str, audience: str, now: float, lifetime: float) -> dict[str, Any]:
        return {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "exp": int(now + lifetime),
            "nbf": int(now),
            "iat": int(now),
            "jti": secrets.token_urlsafe(16),
        }

    async def issue(
        self, user: str | None, requested: Sequence[Access], *, offline: bool = False
    ) -> IssuedToken:
        """A token granting ``user`` (``None``: anonymous) what the rules allow of ``requested``."""
        now = self.clock()
        granted = tuple(self.rules.grant(user, requested))
        claims = self._claims(user or "", self.service, now, self.expiration)
        claims["access"] = [
            {"type": a.type, "name": a.name, "actions": list(a.actions)} for a in granted
        ]
        refresh = None
        if offline and user is not None:
            refresh = await self._refresh_token(user, now)
        log.info(
            "issued a token to %s for %s",
            user or "an anonymous caller",
            " ".join(a.scope for a in granted) or "no scopes",
        )
        return IssuedToken(self._sign(claims), granted, int(self.expiration), now, refresh)

    async def _refresh_token(self, user: str, now: float) -> str | None:
        fingerprint = await self.users.fingerprint(user) if self.users is not None else None
        if fingerprint is None:
            return None
        claims = self._claims(user, self.refresh_audience, now, self.refresh_expiration)
        claims["pwd"] = fingerprint
        return self._sign(claims)

    async def authenticate(
        self, username: str, password: str, request: HttpRequest | None = None
    ) -> bool:
        """Whether the password is the user's; ``TooManyAttempts`` when locked out."""
        if self.users is None:
            return False
        address = None
        if request is not None:
            peer = request.client.host if request.client else None
            forwarded = request.headers.get("x-forwarded-for")
            address = self.users.limiter.address_of(peer, forwarded)
        return await self.users.verify(username, password, address)

    async def redeem_refresh_token(self, raw: str) -> str | None:
        """The user a refresh token stands for, if it is still good."""
        try:
            token = self._refresh_verifier.verify(raw)
        except TokenInvalid as e:
            log.info("rejected a refresh token: %s", e.message)
            return None
        if token.subject is None or self.users is None:
            return None
        current = await self.users.fingerprint(token.subject)
        stamped = token.claims.get("pwd")
        if current is None or not isinstance(stamped, str):
            return None
        if not secrets.compare_digest(current.encode(), stamped.encode()):
            log.info("rejected a refresh token of %s: the password changed", token.subject)
            return None
        return token.subject

    # --- HTTP ----------------------------------------------------------------------------

    def _check_service(self, service: str | None) -> bool:
        return service is None or service == "" or service == self.service

    async def get_token(self, request: HttpRequest) -> Response:
        """``GET /auth/token``: the Docker token specification's request."""
        try:
            return await self._get_token(request)
        except TooManyAttempts as e:
            return _too_many(e)

    async def post_token(self, request: HttpRequest) -> Response:
        """``POST /auth/token``: the OAuth2 password and refresh-token grants."""
        try:
            return await self._post_token(request)
        except TooManyAttempts as e:
            return _too_many(e)

    async def _get_token(self, request: HttpRequest) -> Response:
        params = request.query_params
        if not self._check_service(params.get("service")):
            return _error(400, "invalid_request", "unknown service")
        user: str | None = None
        authorization = request.headers.get("authorization")
        if authorization:
            credentials = parse_basic(authorization)
            if credentials is None or not await self.authenticate(*credentials, request):
                if credentials is not None:
                    log.info("token request with wrong credentials for user %r", credentials[0])
                return self._unauthorized()
            user = credentials[0]
        requested = parse_scopes(params.getlist("scope"))[:_MAX_SCOPES]
        offline = params.get("offline_token", "").lower() == "true"
        issued = await self.issue(user, requested, offline=offline)
        return JSONResponse(issued.body(), headers=_NO_STORE)

    async def _post_token(self, request: HttpRequest) -> Response:
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return _error(400, "invalid_request", "expected a form-encoded body")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > _MAX_FORM:
                return _error(413, "invalid_request", "request body is too large")
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            return _error(400, "invalid_request", "the form is not UTF-8")

        def field(name: str) -> str:
            values = form.get(name)
            return values[0] if values else ""

        if not self._check_service(field("service")):
            return _error(400, "invalid_request", "unknown service")
        requested = parse_scopes(form.get("scope", []))[:_MAX_SCOPES]
        grant = field("grant_type")
        if grant == "password":
            username, password = field("username"), field("password")
            if not username or not await self.authenticate(username, password, request):
                if username:
                    log.info("token request with wrong credentials for user %r", username)
                return _error(401, "invalid_grant", "incorrect username or password")
            offline = field("access_type") == "offline"
            issued = await self.issue(username, requested, offline=offline)
        elif grant == "refresh_token":
            user = await self.redeem_refresh_token(field("refresh_token"))
            if user is None:
                return _error(401, "invalid_grant", "invalid refresh token")
            issued = await self.issue(user, requested, offline=False)
            issued = dataclasses.replace(issued, refresh_token=field("refresh_token"))
        else:
            return _error(400, "unsupported_grant_type", "use password or refresh_token")
        return JSONResponse(issued.body(), headers=_NO_STORE)

    async def jwks(self, request: HttpRequest) -> Response:
        """``GET /auth/jwks.json``: the public key tokens are signed with."""
        return JSONResponse({"keys": [self.signing_key.jwk()]})

    def _unauthorized(self) -> Response:
        return JSONResponse(
            {"errors": [{"code": "UNAUTHORIZED", "message": "incorrect username or password"}]},
            status_code=401,
            headers={"WWW-Authenticate": f"Basic realm={quote(self.service)}", **_NO_STORE},
        )

    def routes(self) -> list[object]:
        """The Starlette routes of the token endpoint and the JWKS document."""
        return [
            Route(self.path, self.get_token, methods=["GET"]),
            Route(self.path, self.post_token, methods=["POST"]),
            Route(self.jwks_path, self.jwks, methods=["GET"]),
        ]


def _too_many(error: TooManyAttempts) -> Response:
    """429 with ``Retry-After`` and the registry's error body (which clients print), as
    the API's one error table gives it."""
    from dockyard.api.errors import error_response  # the HTTP layer, loaded by then

    return error_response(error, _NO_STORE)


def _error(status: int, error: str, description: str) -> Response:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers=_NO_STORE,
    )


def token_server_from_config(
    config: TokenServerAuthConfig,
    token: TokenAuthConfig,
    limiter: AttemptLimiter | None = None,
    *,
    data_dir: Path,
) -> TokenServer:
    """The token server ``auth.tokenserver`` describes, for the service of ``auth.token``."""
    key = "auth.tokenserver"
    users = (
        HtpasswdFile(Path(config.htpasswd), key=f"{key}.htpasswd", limiter=limiter)
        if config.htpasswd is not None
        else None
    )
    signing_key = (
        load_signing_key(Path(config.key), f"{key}.key")
        if config.key is not None
        else generated_signing_key(data_dir, f"{key}.key")
    )
    return TokenServer(
        service=token.service,
        issuer=token.issuer,
        signing_key=signing_key,
        rules=rules_from_config(config),
        users=users,
        expiration=config.expiration.total_seconds(),
        refresh_expiration=config.refreshexpiration.total_seconds(),
        path=config.path,
        jwks_path=config.jwkspath,
    )
