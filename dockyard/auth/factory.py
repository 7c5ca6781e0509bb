"""Building the configured ``Authorizer`` from the ``auth`` section of config.yml.

The reference registry's schemes keep their keys::

    auth:
      htpasswd:                    # HTTP Basic against an htpasswd file (bcrypt entries)
        realm: dockyard            # optional, default "dockyard"
        path: /etc/dockyard/htpasswd

    auth:
      token:                       # bearer tokens from a token service
        realm: https://registry.example.com/auth/token
        service: registry.example.com
        issuer: dockyard
        rootcertbundle: /etc/dockyard/token-ca.pem   # and/or
        jwks: /etc/dockyard/token-keys.json
        signingalgorithms: [ES256, RS256]            # optional, default: all asymmetric
        leeway: 60s                                  # dockyard: clock-skew allowance

Only one scheme may be configured. ``auth.tokenserver`` (see ``dockyard.auth.tokenserver``)
adds dockyard's built-in token server to ``auth.token``; the token authorizer then trusts
the server's signing key without a ``rootcertbundle`` or ``jwks``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dockyard.auth.base import Authorizer
from dockyard.auth.basic import HtpasswdAuthorizer
from dockyard.auth.errors import AuthConfigError
from dockyard.auth.htpasswd import HtpasswdFile
from dockyard.auth.keys import TrustedKeys, as_public_key, load_certificates, load_jwks
from dockyard.auth.ratelimit import AttemptLimiter, policy_of
from dockyard.auth.token import TokenAuthorizer, TokenVerifier
from dockyard.auth.tokenserver import token_server_from_config
from dockyard.config.model import (
    AuthConfig,
    HtpasswdAuthConfig,
    TokenAuthConfig,
    TokenServerAuthConfig,
)


def from_config(auth: AuthConfig, *, data_dir: Path) -> Authorizer | None:
    """The authorizer ``auth`` describes, or ``None`` when it configures no scheme.

    ``auth`` was checked when the configuration was loaded; what can fail here is loading
    the files it names (htpasswd, certificates, keys), and the error names their key.
    """
    limiter = AttemptLimiter(policy_of(auth.ratelimit))
    if auth.htpasswd is not None:
        return htpasswd_from_config(auth.htpasswd, limiter)
    if auth.token is not None:
        return token_from_config(auth.token, auth.tokenserver, limiter, data_dir=data_dir)
    return None


def htpasswd_from_config(
    config: HtpasswdAuthConfig, limiter: AttemptLimiter | None = None
) -> HtpasswdAuthorizer:
    """HTTP Basic against the users of ``auth.htpasswd.path``."""
    users = HtpasswdFile(Path(config.path), key="auth.htpasswd.path", limiter=limiter)
    return HtpasswdAuthorizer(config.realm, users)


def token_from_config(
    config: TokenAuthConfig,
    server_config: TokenServerAuthConfig | None,
    limiter: AttemptLimiter | None = None,
    *,
    data_dir: Path,
) -> TokenAuthorizer:
    """Bearer tokens signed by the keys ``auth.token`` trusts, and by the built-in token
    server's when ``auth.tokenserver`` is enabled."""
    key = "auth.token"
    trusted = TrustedKeys()
    roots = []
    if config.rootcertbundle is not None:
        roots = load_certificates(Path(config.rootcertbundle), f"{key}.rootcertbundle")
        for cert in roots:
            trusted.add(as_public_key(cert.public_key()))
    if config.jwks is not None:
        for kid, public in load_jwks(Path(config.jwks), f"{key}.jwks"):
            trusted.add(public, [kid] if kid else [])
    routes: Sequence[object] = ()
    server = None
    if server_config is not None and server_config.enabled:
        server = token_server_from_config(server_config, config, limiter, data_dir=data_dir)
        trusted.add(server.signing_key.public_key, [server.signing_key.kid])
        routes = server.routes()
    if len(trusted) == 0:
        raise AuthConfigError(
            key, "needs a signing key to trust: set rootcertbundle or jwks, or enable tokenserver"
        )
    verifier = TokenVerifier(
        issuer=config.issuer,
        service=config.service,
        trusted=trusted,
        roots=roots,
        algorithms=frozenset(config.signingalgorithms),
        leeway=config.leeway.total_seconds(),
    )
    return TokenAuthorizer(config.realm, verifier, routes, server)
