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

from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from dockyard.auth import settings
from dockyard.auth.base import Authorizer
from dockyard.auth.basic import HtpasswdAuthorizer
from dockyard.auth.errors import AuthConfigError
from dockyard.auth.htpasswd import HtpasswdFile
from dockyard.auth.jwt import ALGORITHMS
from dockyard.auth.keys import TrustedKeys, as_public_key, load_certificates, load_jwks
from dockyard.auth.token import DEFAULT_LEEWAY, TokenAuthorizer, TokenVerifier
from dockyard.auth.tokenserver import token_server_from_config
from dockyard.config.declare import key_of
from dockyard.config.model import AUTH_SCHEMES, HtpasswdAuthConfig, TokenAuthConfig

SCHEMES = tuple(AUTH_SCHEMES)
#: The keys of each scheme's section, as the configuration model declares them.
HTPASSWD_OPTIONS = {key_of(item) for item in fields(HtpasswdAuthConfig)}
TOKEN_OPTIONS = {key_of(item) for item in fields(TokenAuthConfig)}


def from_config(auth_section: Mapping[str, Any] | None, *, data_dir: Path) -> Authorizer | None:
    """The authorizer the ``auth`` section asks for, or ``None`` when it asks for none."""
    if not auth_section:
        return None
    for name in auth_section:
        if name not in SCHEMES:
            raise AuthConfigError(
                f"auth.{name}", "unsupported auth scheme (dockyard supports htpasswd and token)"
            )
    if "htpasswd" in auth_section and ("token" in auth_section or "tokenserver" in auth_section):
        raise AuthConfigError("auth", "configure either htpasswd or token, not both")
    if "htpasswd" in auth_section:
        return htpasswd_from_config(settings.section(auth_section, "htpasswd", "auth.htpasswd"))
    if "tokenserver" in auth_section and "token" not in auth_section:
        raise AuthConfigError("auth.token", "is required by auth.tokenserver (realm, service, …)")
    token = settings.section(auth_section, "token", "auth.token")
    server = (
        settings.section(auth_section, "tokenserver", "auth.tokenserver")
        if "tokenserver" in auth_section
        else None
    )
    return token_from_config(token, server, data_dir=data_dir)


def htpasswd_from_config(values: Mapping[str, Any]) -> HtpasswdAuthorizer:
    key = "auth.htpasswd"
    settings.reject_unknown(values, HTPASSWD_OPTIONS, key)
    realm = settings.string(values, "realm", key, default="dockyard")
    path = Path(settings.string(values, "path", key)).expanduser()
    return HtpasswdAuthorizer(realm, HtpasswdFile(path, key=f"{key}.path"))


def _algorithms(values: Mapping[str, Any], key: str) -> frozenset[str]:
    names = settings.string_list(values, "signingalgorithms", key)
    for name in names:
        if name not in ALGORITHMS:
            raise AuthConfigError(
                f"{key}.signingalgorithms",
                f"unsupported signing algorithm {name!r} (supported: {', '.join(ALGORITHMS)})",
            )
    return frozenset(names or ALGORITHMS)


def token_from_config(
    values: Mapping[str, Any], server_values: Mapping[str, Any] | None, *, data_dir: Path
) -> TokenAuthorizer:
    key = "auth.token"
    settings.reject_unknown(values, TOKEN_OPTIONS, key)
    if settings.boolean(values, "autoredirect", key):
        raise AuthConfigError(f"{key}.autoredirect", "is not supported; set realm instead")
    realm = settings.string(values, "realm", key)
    service = settings.string(values, "service", key)
    issuer = settings.string(values, "issuer", key)
    algorithms = _algorithms(values, key)
    leeway = settings.duration(values, "leeway", key, DEFAULT_LEEWAY, allow_zero=True)
    trusted = TrustedKeys()
    roots = []
    bundle = settings.optional_string(values, "rootcertbundle", key)
    if bundle is not None:
        roots = load_certificates(Path(bundle).expanduser(), f"{key}.rootcertbundle")
        for cert in roots:
            trusted.add(as_public_key(cert.public_key()))
    jwks = settings.optional_string(values, "jwks", key)
    if jwks is not None:
        for kid, public in load_jwks(Path(jwks).expanduser(), f"{key}.jwks"):
            trusted.add(public, [kid] if kid else [])
    routes: Sequence[object] = ()
    server = None
    if server_values is not None and settings.boolean(
        server_values, "enabled", "auth.tokenserver", default=True
    ):
        server = token_server_from_config(
            server_values, realm=realm, service=service, issuer=issuer, data_dir=data_dir
        )
        trusted.add(server.signing_key.public_key, [server.signing_key.kid])
        routes = server.routes()
    if len(trusted) == 0:
        raise AuthConfigError(
            key, "needs a signing key to trust: set rootcertbundle or jwks, or enable tokenserver"
        )
    verifier = TokenVerifier(
        issuer=issuer,
        service=service,
        trusted=trusted,
        roots=roots,
        algorithms=algorithms,
        leeway=leeway,
    )
    return TokenAuthorizer(realm, verifier, routes, server)
