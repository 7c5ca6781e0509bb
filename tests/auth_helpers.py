"""Shared helpers for the access-control tests: htpasswd files, keys, minted tokens."""

from __future__ import annotations

import base64
import datetime
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import bcrypt
import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from dockyard.auth import Authorizer, from_config, jwt
from dockyard.auth.keys import PrivateKey, libtrust_key_id
from dockyard.auth.rules import AccessRules, rules_from_config
from dockyard.config import from_dict
from dockyard.config.model import AuthConfig

ISSUER = "test-issuer"
SERVICE = "registry.test"
REALM = "http://registry.test/auth/token"


def write_htpasswd(path: Path, users: Mapping[str, str], rounds: int = 4) -> Path:
    """An htpasswd file with bcrypt entries (cheap cost, for speed)."""
    lines = [
        f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds)).decode()}"
        for user, pw in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid claims for SERVICE from ISSUER granting pull on ``a/b``, with overrides."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": SERVICE,
        "exp": now + 300,
        "nbf": now,
        "iat": now,
        "jti": "x",
        "access": [{"type": "repository", "name": "a/b", "actions": ["pull"]}],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def mint(
    key: PrivateKey,
    alg: str | None = None,
    header: Mapping[str, Any] | None = None,
    **claim_overrides: Any,
) -> str:
    """A token signed by ``key``, with a libtrust ``kid`` unless the header says otherwise."""
    head: dict[str, Any] = {
        "typ": "JWT",
        "alg": alg or jwt.algorithm_for(key),
        "kid": libtrust_key_id(key.public_key()),
    }
    head.update(header or {})
    return jwt.encode(
        {k: v for k, v in head.items() if v is not None}, claims(**claim_overrides), key
    )


def certificate(
    key: PrivateKey,
    issuer_key: PrivateKey | None = None,
    issuer_cert: x509.Certificate | None = None,
    *,
    ca: bool = True,
    name: str = "test",
    days: int = 30,
    start_days: int = -1,
) -> x509.Certificate:
    """A certificate for ``key``, self-signed unless an issuer is given."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    signer = issuer_key or key
    digest = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert is not None else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=start_days))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signer, digest)
    )


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def der_b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


_PARAM = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def challenge_params(header: str) -> dict[str, str]:
    """The parameters of a ``WWW-Authenticate`` challenge."""
    return dict(_PARAM.findall(header))


async def docker_like(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    credentials: tuple[str, str] | None,
) -> httpx.Response:
    """A request made the way docker does: try, follow a Bearer challenge, retry."""
    first = await client.request(method, path)
    challenge = first.headers.get("www-authenticate", "")
    if first.status_code != 401 or not challenge.startswith("Bearer "):
        return first
    params = challenge_params(challenge)
    query: dict[str, str] = {"service": params["service"]}
    if "scope" in params:
        query["scope"] = params["scope"]
    headers = {"authorization": basic(*credentials)} if credentials else {}
    realm = httpx.URL(params["realm"])
    token = await client.get(realm.path, params=query, headers=headers)
    if token.status_code != 200:
        return token
    bearer = {"authorization": "Bearer " + token.json()["token"]}
    return await client.request(method, path, headers=bearer)


class RegistryAuth(httpx.Auth):
    """Answers registry challenges as the conformance suite does: Basic credentials, or a
    token fetched from the challenge's realm for exactly the challenge's scope."""

    requires_response_body = True

    def __init__(self, credentials: tuple[str, str] | None) -> None:
        self.credentials = credentials
        self.token_requests = 0

    def auth_flow(self, request: httpx.Request) -> Any:
        response = yield request
        if response.status_code != 401:
            return
        challenge = response.headers.get("www-authenticate", "")
        if challenge.startswith("Basic ") and self.credentials:
            request.headers["authorization"] = basic(*self.credentials)
            yield request
            return
        if not challenge.startswith("Bearer "):
            return
        params = challenge_params(challenge)
        scope = params.get("scope", "")
        query = {"service": params["service"], **({"scope": scope} if scope else {})}
        token_request = httpx.Request("GET", params["realm"], params=query)
        if self.credentials:
            token_request.headers["authorization"] = basic(*self.credentials)
        self.token_requests += 1
        token_response = yield token_request
        if token_response.status_code != 200:
            return
        request.headers["authorization"] = "Bearer " + token_response.json()["token"]
        yield request


def auth_config(section: Mapping[str, Any] | None) -> AuthConfig:
    """``section`` read as config.yml's ``auth`` section, typed and checked as ``serve``
    reads it (a bad value raises ``ConfigError`` naming its key)."""
    tree = {"version": "0.1", "storage": {"inmemory": {}}, "auth": dict(section or {})}
    return from_dict(tree).auth


def build_authorizer(section: Mapping[str, Any] | None, *, data_dir: Path) -> Authorizer | None:
    """The authorizer ``serve`` builds from ``section`` as config.yml's ``auth``."""
    return from_config(auth_config(section), data_dir=data_dir)


def access_rules(rules: Any, groups: Any = None) -> AccessRules:
    """The token server's access rules ``rules`` and ``groups`` describe, as configured."""
    token = {"realm": REALM, "service": SERVICE, "issuer": ISSUER}
    server = auth_config(
        {"token": token, "tokenserver": {"rules": rules, "groups": groups or {}}}
    ).tokenserver
    assert server is not None
    return rules_from_config(server)
