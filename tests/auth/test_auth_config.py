"""``from_config``: the auth section of config.yml becomes an authorizer or a named error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from auth_helpers import (
    ISSUER,
    REALM,
    SERVICE,
    auth_config,
    build_authorizer,
    certificate,
    ec_key,
    pem,
    write_htpasswd,
)

from dockyard.auth import AuthConfigError, from_config, jwt
from dockyard.auth.basic import HtpasswdAuthorizer
from dockyard.auth.token import TokenAuthorizer
from dockyard.config import ConfigError, from_dict, load
from dockyard.config.model import TOKEN_SIGNING_ALGORITHMS
from dockyard.errors import DockyardError


def test_no_auth_section_means_no_authorizer(tmp_path: Path) -> None:
    assert build_authorizer(None, data_dir=tmp_path) is None
    assert build_authorizer({}, data_dir=tmp_path) is None
    assert build_authorizer({"ratelimit": {"attempts": 3}}, data_dir=tmp_path) is None


def test_htpasswd_section_builds_basic_auth(tmp_path: Path) -> None:
    path = write_htpasswd(tmp_path / "h", {"a": "b"})
    authorizer = build_authorizer(
        {"htpasswd": {"realm": "r", "path": str(path)}}, data_dir=tmp_path
    )
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
    authorizer = build_authorizer(
        {"token": token(rootcertbundle=bundle(tmp_path))}, data_dir=tmp_path
    )
    assert isinstance(authorizer, TokenAuthorizer)


def test_token_section_with_string_values_from_the_environment(tmp_path: Path) -> None:
    environ = {
        "REGISTRY_AUTH_TOKEN_SIGNINGALGORITHMS": "ES256,RS256",
        "REGISTRY_AUTH_TOKEN_LEEWAY": "30s",
    }
    tree = {"version": "0.1", "storage": "inmemory", "auth": {"token": token()}}
    tree["auth"]["token"]["rootcertbundle"] = bundle(tmp_path)
    authorizer = from_config(from_dict(tree, environ).auth, data_dir=tmp_path)
    assert isinstance(authorizer, TokenAuthorizer)
    assert authorizer.verifier.algorithms == {"ES256", "RS256"}
    assert authorizer.verifier.leeway == 30


def test_tokenserver_enabled_as_a_string(tmp_path: Path) -> None:
    authorizer = build_authorizer(
        {"token": token(), "tokenserver": {"enabled": "true"}}, data_dir=tmp_path
    )
    assert isinstance(authorizer, TokenAuthorizer)
    assert authorizer.routes()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"silly": {}}, r"^auth.silly: unsupported auth scheme"),
        ({"htpasswd": {"realm": "r"}}, r"^auth.htpasswd.path: required"),
        ({"htpasswd": {"path": ""}}, r"^auth.htpasswd.path: required"),
        ({"htpasswd": "yes"}, r"^auth.htpasswd: expected a mapping"),
        ({"token": token(realm=None)}, r"^auth.token.realm: required"),
        ({"token": token(service=[5])}, r"^auth.token.service: expected a string"),
        ({"token": token(autoredirect=True)}, r"^auth.token.autoredirect: not supported"),
        ({"token": token(leeway="soon")}, r"^auth.token.leeway: expected a duration"),
        ({"token": token(leeway="-1s")}, r"^auth.token.leeway: must not be negative"),
        ({"tokenserver": {"enabled": True}}, r"^auth.token: required by auth.tokenserver"),
        ({"token": token(), "tokenserver": {"expiration": "10s"}}, r"^auth.tokenserver.expiration"),
        (
            {"token": token(), "tokenserver": {"refreshexpiration": "0s"}},
            r"^auth.tokenserver.refreshexpiration: must be positive",
        ),
        ({"token": token(), "tokenserver": {"path": "/v2/token"}}, r"^auth.tokenserver.path"),
        ({"token": token(), "tokenserver": {"jwkspath": "jwks"}}, r"^auth.tokenserver.jwkspath"),
        (
            {"token": token(), "tokenserver": {"rules": {}}},
            r"^auth.tokenserver.rules: expected a list",
        ),
        (
            {"token": token(), "tokenserver": {"groups": {"devs": {"alice": 1}}}},
            r"^auth.tokenserver.groups.devs: expected a list",
        ),
        ({"ratelimit": {"window": "0s"}}, r"^auth.ratelimit.window: must be positive"),
        ({"ratelimit": {"trustedproxies": ["proxy"]}}, r"^auth.ratelimit.trustedproxies\[0\]"),
    ],
)
def test_invalid_section_is_refused_when_loaded_naming_the_key(
    section: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        auth_config(section)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"htpasswd": {"path": "/nonexistent/htpasswd"}}, r"^auth.htpasswd.path: cannot read"),
        ({"token": token()}, r"^auth.token: needs a signing key to trust"),
        ({"token": token(rootcertbundle="/nonexistent")}, r"^auth.token.rootcertbundle: cannot"),
        ({"token": token(jwks="/nonexistent")}, r"^auth.token.jwks: cannot read"),
        (
            {"token": token(), "tokenserver": {"htpasswd": "/nonexistent"}},
            r"^auth.tokenserver.htpasswd",
        ),
        (
            {"token": token(), "tokenserver": {"key": "/nonexistent"}},
            r"^auth.tokenserver.key: cannot",
        ),
    ],
)
def test_file_that_cannot_be_loaded_is_refused_when_built_naming_the_key(
    tmp_path: Path, section: dict[str, Any], message: str
) -> None:
    config = auth_config(section)
    with pytest.raises(AuthConfigError, match=message):
        from_config(config, data_dir=tmp_path)


@pytest.mark.parametrize("algorithm", ["HS256", "none", "XX1"])
def test_symmetric_or_unknown_signing_algorithm_is_rejected(tmp_path: Path, algorithm: str) -> None:
    section = token(rootcertbundle=bundle(tmp_path), signingalgorithms=[algorithm])
    with pytest.raises(ConfigError, match=r"^auth.token.signingalgorithms: unsupported"):
        auth_config({"token": section})


def test_the_signing_algorithms_configuration_names_are_those_tokens_are_verified_with() -> None:
    assert set(TOKEN_SIGNING_ALGORITHMS) == set(jwt.ALGORITHMS)


def test_htpasswd_and_token_together_is_an_error(tmp_path: Path) -> None:
    path = write_htpasswd(tmp_path / "h", {"a": "b"})
    with pytest.raises(ConfigError, match=r"^auth: configure either htpasswd or token"):
        auth_config(
            {"htpasswd": {"path": str(path)}, "token": token(rootcertbundle=bundle(tmp_path))}
        )


def test_non_bcrypt_htpasswd_line_is_refused_at_start_up_naming_its_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "h"
    path.write_text("alice:$apr1$abc$def\n")
    build_authorizer({"htpasswd": {"path": str(path)}}, data_dir=tmp_path)
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
    authorizer = build_authorizer({"token": token(), "tokenserver": {}}, data_dir=tmp_path)
    assert isinstance(authorizer, TokenAuthorizer)
    assert authorizer.routes()


def test_disabled_tokenserver_serves_nothing_and_trusts_nothing(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match=r"^auth.token: needs a signing key"):
        build_authorizer({"token": token(), "tokenserver": {"enabled": False}}, data_dir=tmp_path)
    authorizer = build_authorizer(
        {"token": token(rootcertbundle=bundle(tmp_path)), "tokenserver": {"enabled": False}},
        data_dir=tmp_path,
    )
    assert isinstance(authorizer, TokenAuthorizer)
    assert authorizer.routes() == []
    assert not (tmp_path / "auth").exists()


@pytest.mark.parametrize("scheme", ["htpasswd", "token", "tokenserver"])
def test_an_unknown_key_of_a_scheme_is_warned_about_by_name_and_ignored(
    tmp_path: Path, scheme: str
) -> None:
    users = write_htpasswd(tmp_path / "h", {"a": "b"})
    section: dict[str, Any] = (
        {"htpasswd": {"path": str(users)}}
        if scheme == "htpasswd"
        else {"token": token(), "tokenserver": {}}
    )
    section[scheme]["expiraton"] = "10m"
    tree = {"version": "0.1", "storage": "inmemory", "auth": section}
    config = from_dict(tree)
    assert f"auth.{scheme}.expiraton: unknown key; ignored" in config.warnings


def test_relative_auth_files_are_read_from_the_configurations_working_directory(
    tmp_path: Path,
) -> None:
    write_htpasswd(tmp_path / "users", {"a": "b"})
    tree = {"version": "0.1", "storage": "inmemory", "auth": {"htpasswd": {"path": "users"}}}
    config = from_dict(tree, cwd=tmp_path)
    assert config.auth.htpasswd is not None
    assert config.auth.htpasswd.path == str(tmp_path / "users")
    assert isinstance(from_config(config.auth, data_dir=tmp_path), HtpasswdAuthorizer)


def test_the_token_server_serves_tokens_at_the_path_of_the_realm_by_default() -> None:
    config = auth_config({"token": token(realm="https://r.example/login/token"), "tokenserver": {}})
    assert config.tokenserver is not None
    assert config.tokenserver.path == "/login/token"


def test_each_authorizer_limits_failed_logins_by_its_own_ratelimit(tmp_path: Path) -> None:
    users = str(write_htpasswd(tmp_path / "h", {"a": "b"}))
    strict = build_authorizer(
        {"htpasswd": {"path": users}, "ratelimit": {"attempts": 2, "trustedproxies": "10.0.0.0/8"}},
        data_dir=tmp_path,
    )
    default = build_authorizer({"htpasswd": {"path": users}}, data_dir=tmp_path)
    assert isinstance(strict, HtpasswdAuthorizer)
    assert isinstance(default, HtpasswdAuthorizer)
    assert strict.users.limiter.policy.attempts == 2
    assert strict.users.limiter.address_of("10.1.2.3", "192.0.2.7") == "192.0.2.7"
    assert default.users.limiter.policy.attempts == 10
    assert default.users.limiter.address_of("10.1.2.3", "192.0.2.7") == "10.1.2.3"
