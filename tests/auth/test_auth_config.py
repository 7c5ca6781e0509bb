"""``from_config``: the auth section of config.yml becomes an authorizer or a named error."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from auth_helpers import ISSUER, REALM, SERVICE, certificate, ec_key, pem, write_htpasswd

from dockyard.auth import AuthConfigError, from_config
from dockyard.auth.basic import HtpasswdAuthorizer
from dockyard.auth.token import TokenAuthorizer
from dockyard.config import load
from dockyard.config.declare import key_of
from dockyard.config.model import TokenServerAuthConfig
from dockyard.errors import DockyardError


def test_no_auth_section_means_no_authorizer(tmp_path: Path) -> None:
    assert from_config(None, data_dir=tmp_path) is None
    assert from_config({}, data_dir=tmp_path) is None


def test_htpasswd_section_builds_basic_auth(tmp_path: Path) -> None:
    path = write_htpasswd(tmp_path / "h", {"a": "b"})
    authorizer = from_config({"htpasswd": {"realm": "r", "path": str(path)}}, data_dir=tmp_path)
    assert isinstance(authorizer, HtpasswdAuthorizer)
    assert authorizer.routes() == []


def test_auth_config_error_is_a_dockyard_error() -> None:
    assert issubclass(AuthConfigError, DockyardError)


def token(**values: Any) -> dict[str, Any]:
    return {"realm": REALM, "service": SERVICE, "issuer": ISSUER, **values}


def bundle(tmp_path: Path) -> str:
    path = tmp_path / "bundle.pem"
    path.write_bytes(pem(certificate(ec_key())))
    return str(path)


def test_token_section_builds_token_auth(tmp_path: Path) -> None:
    authorizer = from_config({"token": token(rootcertbundle=bundle(tmp_path))}, data_dir=tmp_path)
    assert isinstance(authorizer, TokenAuthorizer)


def test_token_section_with_string_values_from_the_environment(tmp_path: Path) -> None:
    section = token(rootcertbundle=bundle(tmp_path), signingalgorithms="ES256,RS256", leeway="30s")
    assert isinstance(from_config({"token": section}, data_dir=tmp_path), TokenAuthorizer)


def test_tokenserver_enabled_as_a_string(tmp_path: Path) -> None:
    authorizer = from_config(
        {"token": token(), "tokenserver": {"enabled": "true"}}, data_dir=tmp_path
    )
    assert isinstance(authorizer, TokenAuthorizer)
    assert authorizer.routes()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"silly": {}}, r"^auth.silly: unsupported auth scheme"),
        ({"htpasswd": {"realm": "r"}}, r"^auth.htpasswd.path: is required"),
        ({"htpasswd": {"path": "/nonexistent/htpasswd"}}, r"^auth.htpasswd.path: cannot read"),
        ({"htpasswd": {"path": "x", "colour": 1}}, r"^auth.htpasswd.colour: unknown option"),
        ({"htpasswd": "yes"}, r"^auth.htpasswd: must be a mapping"),
        ({"token": token(realm=None)}, r"^auth.token.realm: is required"),
        ({"token": token(service=5)}, r"^auth.token.service: must be a string"),
        ({"token": token()}, r"^auth.token: needs a signing key to trust"),
        ({"token": token(rootcertbundle="/nonexistent")}, r"^auth.token.rootcertbundle: cannot"),
        ({"token": token(jwks="/nonexistent")}, r"^auth.token.jwks: cannot read"),
        ({"token": token(autoredirect=True)}, r"^auth.token.autoredirect: is not supported"),
        ({"token": token(leeway="soon")}, r"^auth.token.leeway: must be a duration"),
        ({"tokenserver": {"enabled": True}}, r"^auth.token: is required by auth.tokenserver"),
        ({"token": token(), "tokenserver": {"expiration": "10s"}}, r"^auth.tokenserver.expiration"),
        ({"token": token(), "tokenserver": {"path": "/v2/token"}}, r"^auth.tokenserver.path"),
        (
            {"token": token(), "tokenserver": {"htpasswd": "/nonexistent"}},
            r"^auth.tokenserver.htpasswd",
        ),
        (
            {"token": token(), "tokenserver": {"rules": {}}},
            r"^auth.tokenserver.rules: must be a list",
        ),
        (
            {"token": token(), "tokenserver": {"key": "/nonexistent"}},
            r"^auth.tokenserver.key: cannot",
        ),
    ],
)
def test_invalid_section_names_the_offending_key(
    tmp_path: Path, section: dict[str, Any], message: str
) -> None:
    with pytest.raises(AuthConfigError, match=message):
        from_config(section, data_dir=tmp_path)


@pytest.mark.parametrize("algorithm", ["HS256", "none", "XX1"])
def test_symmetric_or_unknown_signing_algorithm_is_rejected(tmp_path: Path, algorithm: str) -> None:
    section = token(rootcertbundle=bundle(tmp_path), signingalgorithms=[algorithm])
    with pytest.raises(AuthConfigError, match=r"^auth.token.signingalgorithms: unsupported"):
        from_config({"token": section}, data_dir=tmp_path)


def test_htpasswd_and_token_together_is_an_error(tmp_path: Path) -> None:
    path = write_htpasswd(tmp_path / "h", {"a": "b"})
    with pytest.raises(AuthConfigError, match=r"^auth: configure either htpasswd or token"):
        from_config(
            {"htpasswd": {"path": str(path)}, "token": token(rootcertbundle=bundle(tmp_path))},
            data_dir=tmp_path,
        )


def test_non_bcrypt_htpasswd_line_is_refused_at_start_up_naming_its_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "h"
    path.write_text("alice:$apr1$abc$def\n")
    from_config({"htpasswd": {"path": str(path)}}, data_dir=tmp_path)
    assert "auth.htpasswd.path: refused line 1" in caplog.text


def test_reference_environment_variables_configure_htpasswd(tmp_path: Path) -> None:
    path = write_htpasswd(tmp_path / "h", {"a": "b"})
    environ = {
        "REGISTRY_AUTH": "htpasswd",
        "REGISTRY_AUTH_HTPASSWD_REALM": "Registry Realm",
        "REGISTRY_AUTH_HTPASSWD_PATH": str(path),
    }
    authorizer = from_config(load(None, environ, cwd=tmp_path).auth, data_dir=tmp_path)
    assert isinstance(authorizer, HtpasswdAuthorizer)
    assert authorizer.realm == "Registry Realm"


def test_environment_variables_enable_the_token_server(tmp_path: Path) -> None:
    environ = {
        "REGISTRY_AUTH": "token",
        "REGISTRY_AUTH_TOKEN_REALM": REALM,
        "REGISTRY_AUTH_TOKEN_SERVICE": SERVICE,
        "REGISTRY_AUTH_TOKEN_ISSUER": ISSUER,
        "REGISTRY_AUTH_TOKENSERVER_ENABLED": "true",
        "REGISTRY_AUTH_TOKENSERVER_EXPIRATION": "10m",
    }
    authorizer = from_config(load(None, environ, cwd=tmp_path).auth, data_dir=tmp_path)
    assert isinstance(authorizer, TokenAuthorizer)
    assert len(authorizer.routes()) == 3


def test_empty_tokenserver_section_enables_it(tmp_path: Path) -> None:
    authorizer = from_config({"token": token(), "tokenserver": {}}, data_dir=tmp_path)
    assert isinstance(authorizer, TokenAuthorizer)
    assert authorizer.routes()


def test_disabled_tokenserver_serves_nothing_and_trusts_nothing(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match=r"^auth.token: needs a signing key"):
        from_config({"token": token(), "tokenserver": {"enabled": False}}, data_dir=tmp_path)
    authorizer = from_config(
        {"token": token(rootcertbundle=bundle(tmp_path)), "tokenserver": {"enabled": False}},
        data_dir=tmp_path,
    )
    assert isinstance(authorizer, TokenAuthorizer)
    assert authorizer.routes() == []
    assert not (tmp_path / "auth").exists()


def test_an_unknown_token_server_key_is_named_with_the_keys_the_model_declares(
    tmp_path: Path,
) -> None:
    declared = sorted(key_of(item) for item in fields(TokenServerAuthConfig))
    with pytest.raises(AuthConfigError) as raised:
        from_config({"token": token(), "tokenserver": {"expiraton": "10m"}}, data_dir=tmp_path)
    assert str(raised.value).startswith("auth.tokenserver.expiraton: unknown option")
    assert f"(known: {', '.join(declared)})" in str(raised.value)
