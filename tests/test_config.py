"""The configuration: the reference registry's config.yml, typed, validated, overridable."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dockyard.config import (
    Config,
    ConfigError,
    load,
    parse_addr,
    parse_duration,
)
from dockyard.config.model import AuthConfig, HtpasswdAuthConfig, S3Params

# The reference registry's own example configuration (cmd/registry/config-example.yml),
# plus the sections its documentation lists; dockyard must start on it unchanged.
REFERENCE_CONFIG = """\
version: 0.1
log:
  accesslog:
    disabled: true
  level: debug
  formatter: text
  fields:
    service: registry
    environment: staging
  hooks:
    - type: mail
      disabled: true
storage:
  filesystem:
    rootdirectory: /var/lib/registry
    maxthreads: 100
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: true
      age: 168h
      interval: 24h
      dryrun: false
    readonly:
      enabled: false
auth:
  htpasswd:
    realm: basic-realm
    path: /path/to/htpasswd
middleware:
  registry:
    - name: ARegistryMiddleware
http:
  addr: :5000
  secret: asecretforlocaldevelopment
  relativeurls: false
  draintimeout: 60s
  debug:
    addr: :5001
    prometheus:
      enabled: true
      path: /metrics
  headers:
    X-Content-Type-Options: [nosniff]
  http2:
    disabled: false
notifications:
  events:
    includereferences: true
  endpoints:
    - name: alistener
      url: https://my.listener.com/event
redis:
  addr: localhost:6379
  password: asecret
  db: 0
  dialtimeout: 10ms
  readtimeout: 10ms
  writetimeout: 10ms
  pool:
    maxidle: 16
    maxactive: 64
    idletimeout: 300s
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
proxy:
  remoteurl: https://registry-1.docker.io
validation:
  manifests:
    urls:
      allow:
        - ^https?://([^/]+\\.)*example\\.com/
      deny:
        - ^https?://www\\.example\\.com/
"""


def write_certificate(directory: Path, name: str = "cert") -> tuple[Path, Path]:
    """A self-signed certificate and its key (PEM), with a copy as ``ca.pem``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "registry.test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / f"{name}.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / "ca.pem").write_bytes(cert_path.read_bytes())
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def write(tmp_path: Path, text: str) -> Path:
    """``text`` as config.yml; in-memory storage unless it names storage (a file must)."""
    text = textwrap.dedent(text)
    if "storage" not in text:
        text += "\nstorage: inmemory\n"
    path = tmp_path / "config.yml"
    path.write_text(text)
    return path


def load_text(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Config:
    return load(write(tmp_path, text), env or {}, cwd=tmp_path)


def error_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text, env)
    return info.value.message


# --- defaults -----------------------------------------------------------------------------


def test_no_config_serves_filesystem_storage_in_local_data_folder(tmp_path: Path) -> None:
    config = load(None, {}, cwd=tmp_path)
    assert config.storage.driver == "filesystem"
    assert config.storage.parameters == {"rootdirectory": str(tmp_path / ".data")}


def test_no_config_listens_on_port_5000_on_every_interface(tmp_path: Path) -> None:
    config = load(None, {}, cwd=tmp_path)
    assert config.http.addr == ":5000"
    assert config.http.bind == ("0.0.0.0", 5000)


def test_no_config_reports_nothing_but_the_generated_secret(tmp_path: Path) -> None:
    config = load(None, {}, cwd=tmp_path)
    assert [w.split(":")[0] for w in config.warnings] == ["http.secret"]


def test_missing_secret_is_generated_randomly_and_warned_about(tmp_path: Path) -> None:
    first = load(None, {}, cwd=tmp_path)
    second = load(None, {}, cwd=tmp_path)
    assert first.http.secret_generated
    assert len(first.http.secret) >= 32
    assert first.http.secret != second.http.secret
    assert any("span several registry instances" in w for w in first.warnings)


def test_configured_secret_is_kept_and_not_warned_about(tmp_path: Path) -> None:
    config = load_text(tmp_path, "version: 0.1\nhttp:\n  secret: s3cr3t\n")
    assert config.http.secret == "s3cr3t"
    assert not config.http.secret_generated
    assert config.warnings == ()


def test_defaults_match_the_reference(tmp_path: Path) -> None:
    config = load_text(tmp_path, "version: 0.1\nstorage:\n  inmemory:\nhttp:\n  secret: x\n")
    assert config.log.level == "info"
    assert not config.log.accesslog_disabled
    assert not config.storage.delete_enabled
    assert not config.storage.readonly
    assert config.storage.uploadpurging.enabled
    assert config.storage.uploadpurging.age == timedelta(hours=168)
    assert config.storage.uploadpurging.interval == timedelta(hours=24)
    assert config.storage.cache.blobdescriptor is None
    assert config.redis is None
    assert config.auth == AuthConfig()
    assert not config.auth.enabled


def test_filesystem_without_rootdirectory_uses_the_reference_default(tmp_path: Path) -> None:
    config = load_text(tmp_path, "version: 0.1\nstorage:\n  filesystem:\n")
    assert config.storage.parameters["rootdirectory"] == "/var/lib/registry"


def test_relative_rootdirectory_is_resolved_against_the_working_directory(
    tmp_path: Path,
) -> None:
    config = load_text(tmp_path, "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: data\n")
    assert config.storage.parameters["rootdirectory"] == str(tmp_path / "data")


# --- the reference's configuration file ---------------------------------------------------


def test_reference_example_config_loads_unchanged(tmp_path: Path) -> None:
    config = load_text(tmp_path, REFERENCE_CONFIG)
    assert config.log.level == "debug"
    assert config.log.accesslog_disabled
    assert config.log.fields == {"service": "registry", "environment": "staging"}
    assert config.storage.driver == "filesystem"
    assert config.storage.parameters["rootdirectory"] == "/var/lib/registry"
    assert config.storage.delete_enabled
    assert config.storage.cache.blobdescriptor == "inmemory"
    assert config.http.secret == "asecretforlocaldevelopment"
    assert config.http.draintimeout == timedelta(seconds=60)
    assert config.http.headers == {"X-Content-Type-Options": ("nosniff",)}
    assert config.auth.htpasswd == HtpasswdAuthConfig(realm="basic-realm", path="/path/to/htpasswd")
    assert config.redis is not None
    assert config.redis.addr == "localhost:6379"
    assert config.redis.pool_maxactive == 64
    assert config.redis.pool_idletimeout == timedelta(seconds=300)
    assert config.validation.manifest_urls_deny == (r"^https?://www\.example\.com/",)


def test_reference_example_config_warns_about_each_unsupported_section(tmp_path: Path) -> None:
    config = load_text(tmp_path, REFERENCE_CONFIG)
    warned = {w.split(":")[0] for w in config.warnings}
    assert "middleware" in warned
    assert not {"notifications", "health", "http.debug", "proxy"} & warned
    assert "log.hooks" in warned


def test_unsupported_sections_are_kept_for_inspection(tmp_path: Path) -> None:
    config = load_text(tmp_path, REFERENCE_CONFIG)
    assert config.extra["middleware"] == {"registry": [{"name": "ARegistryMiddleware"}]}


def test_reference_example_proxy_section_is_read(tmp_path: Path) -> None:
    config = load_text(tmp_path, REFERENCE_CONFIG)
    assert config.proxy is not None
    assert config.proxy.remoteurl == "https://registry-1.docker.io"


def test_unknown_section_is_a_warning_not_an_error(tmp_path: Path) -> None:
    config = load_text(tmp_path, "version: 0.1\nshiny: {a: 1}\nhttp: {secret: x}\n")
    assert config.warnings == ("shiny: unknown key; ignored",)


def test_unknown_key_in_a_known_section_is_warned_about_with_its_path(tmp_path: Path) -> None:
    config = load_text(tmp_path, "version: 0.1\nhttp:\n  secret: x\n  colour: blue\n")
    assert config.warnings == ("http.colour: unknown key; ignored",)


def test_storage_short_form_names_the_driver(tmp_path: Path) -> None:
    config = load_text(tmp_path, "version: 0.1\nstorage: inmemory\n")
    assert config.storage.driver == "inmemory"
    assert config.storage.parameters == {}


def test_s3_parameters_are_read_into_typed_values(tmp_path: Path) -> None:
    config = load_text(
        tmp_path,
        """\
        version: 0.1
        storage:
          s3:
            bucket: images
            region: us-east-1
            regionendpoint: http://127.0.0.1:8333
            secure: false
            chunksize: 5242880
        """,
    )
    assert config.storage.driver == "s3"
    assert config.storage.params == S3Params(
        bucket="images",
        region="us-east-1",
        regionendpoint="http://127.0.0.1:8333",
        secure=False,
        chunksize=5242880,
    )


def test_s3_spellings_of_none_and_empty_values_leave_options_unset(tmp_path: Path) -> None:
    text = (
        "version: 0.1\nstorage:\n  s3:\n    bucket: b\n    storageclass: NONE\n"
        "    objectacl: none\n    regionendpoint: ''\n    rootdirectory: /registry/\n"
    )
    params = load_text(tmp_path, text).storage.params
    assert isinstance(params, S3Params)
    assert (params.storageclass, params.objectacl, params.regionendpoint) == (None, None, None)
    assert params.rootdirectory == "registry"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("chunksize", 5 * 1024 * 1024 - 1, "must be at least 5242880"),
        ("chunksize", 6 * 1024**3, "must be at most 5368709120"),
        ("list_page_size", 1001, "must be at most 1000"),
        ("multipartcopymaxconcurrency", 0, "must be at least 1"),
    ],
)
def test_s3_sizes_outside_what_s3_allows_are_refused_naming_the_key(
    tmp_path: Path, key: str, value: int, message: str
) -> None:
    text = f"version: 0.1\nstorage:\n  s3:\n    bucket: b\n    {key}: {value}\n"
    assert error_of(tmp_path, text).startswith(f"storage.s3.{key}: {message}")


def test_credentials_are_kept_out_of_the_configurations_repr(tmp_path: Path) -> None:
    text = (
        "version: 0.1\nstorage:\n  s3:\n    bucket: b\n    accesskey: AKIDSHOWN\n"
        "    secretkey: hidden-secret\n    sessiontoken: hidden-token\n"
        "http:\n  secret: hidden-upload-secret\n"
        "redis:\n  addr: localhost:6379\n  password: hidden-password\n"
    )
    shown = repr(load_text(tmp_path, text))
    assert "AKIDSHOWN" not in shown
    assert "hidden" not in shown


def test_deprecated_loglevel_sets_the_level_with_a_warning(tmp_path: Path) -> None:
    config = load_text(tmp_path, "version: 0.1\nloglevel: debug\nhttp: {secret: x}\n")
    assert config.log.level == "debug"
    assert config.warnings == ("loglevel: deprecated, use log.level",)


def test_missing_version_in_a_file_is_warned_about(tmp_path: Path) -> None:
    config = load_text(tmp_path, "http: {secret: x}\n")
    assert config.warnings == ("version: missing; assuming 0.1",)


def test_storage_options_without_a_driver_are_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, "version: 0.1\nstorage:\n  delete:\n    enabled: true\n")
    assert message.startswith("storage: no driver configured")


def test_a_file_without_a_storage_section_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("version: 0.1\nhttp:\n  addr: :5000\n")
    with pytest.raises(ConfigError, match=r"^storage: missing; configure a driver"):
        load(path, {}, cwd=tmp_path)


def test_an_empty_file_is_rejected_for_its_missing_storage(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("")
    with pytest.raises(ConfigError, match=r"^storage: missing"):
        load(path, {}, cwd=tmp_path)


@pytest.mark.parametrize("version", ["0.2", "1.0", "2", "0.10"])
def test_a_version_other_than_0_1_is_rejected(tmp_path: Path, version: str) -> None:
    message = error_of(tmp_path, f"version: '{version}'\n")
    assert message.startswith("version: dockyard reads configuration version 0.1")


# --- errors name the key ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "storage:\n  inmemory:\n  delete:\n    enabled: maybe\n",
            "storage.delete.enabled: expected a boolean, got 'maybe'",
        ),
        (
            "storage:\n  inmemory:\n  maintenance:\n    uploadpurging:\n      age: a week\n",
            "storage.maintenance.uploadpurging.age: expected a duration",
        ),
        ("http:\n  addr: 5000\n", "http.addr: expected host:port"),
        ("http:\n  addr: ':99999'\n", "http.addr: port 99999 is out of range"),
        ("http:\n  workers: 0\n", "http.workers: must be at least 1"),
        ("http:\n  workers: many\n", "http.workers: expected an integer"),
        ("http:\n  host: registry.example.com\n", "http.host: expected an absolute URL"),
        ("http:\n  tls:\n    key: k.pem\n", "http.tls.certificate: required"),
        ("http: [1, 2]\n", "http: expected a mapping"),
        ("log:\n  level: loud\n", "log.level: expected one of"),
        ("log:\n  formatter: xml\n", "log.formatter: expected one of"),
        ("storage:\n  gcs:\n    bucket: b\n", "storage.gcs: unsupported storage driver"),
        ("storage:\n  inmemory:\n  filesystem:\n", "storage: configure exactly one driver"),
        ("storage:\n  s3:\n    region: x\n", "storage.s3.bucket: required"),
        (
            "storage:\n  inmemory:\n  cache:\n    blobdescriptor: redis\n",
            "storage.cache.blobdescriptor: redis needs a redis.addr",
        ),
        (
            "storage:\n  inmemory:\n  cache:\n    blobdescriptor: disk\n",
            "storage.cache.blobdescriptor: expected inmemory or redis",
        ),
        ("redis:\n  password: x\n", "redis.addr: required"),
        ("redis:\n  addr: localhost\n", "redis.addr: expected host:port"),
        ("auth:\n  htpasswd: yes\n", "auth.htpasswd: expected a mapping"),
        ("version: 2\n", "version: dockyard reads configuration version 0.1"),
        (
            "validation:\n  manifests:\n    urls:\n      allow: ['(']\n",
            "validation.manifests.urls.allow[0]: not a valid regular expression",
        ),
        ("http:\n  headers:\n    'Bad Header': [x]\n", "http.headers.Bad Header"),
    ],
)
def test_invalid_value_is_rejected_naming_its_key(tmp_path: Path, text: str, message: str) -> None:
    assert error_of(tmp_path, "version: 0.1\n" + text).startswith(message)


def test_tls_files_must_exist(tmp_path: Path) -> None:
    text = "version: 0.1\nhttp:\n  tls:\n    certificate: cert.pem\n    key: key.pem\n"
    assert error_of(tmp_path, text) == "http.tls.certificate: file not found"


def test_tls_files_are_resolved_against_the_working_directory(tmp_path: Path) -> None:
    write_certificate(tmp_path)
    config = load_text(
        tmp_path,
        "version: 0.1\nhttp:\n  tls:\n    certificate: cert.pem\n    key: key.pem\n"
        "    clientcas: [ca.pem]\n",
    )
    assert config.http.tls is not None
    assert config.http.tls.certificate == str(tmp_path / "cert.pem")
    assert config.http.tls.clientcas == (str(tmp_path / "ca.pem"),)
    assert config.http.tls.minimumtls == "tls1.2"


def test_file_that_is_not_yaml_is_rejected_with_its_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, "version: 0.1\nhttp: [\n")
    assert "not valid YAML at line" in message


def test_file_that_is_not_a_mapping_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match=r"^configuration: expected a mapping at the top level$"):
        load(path, {})


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        load(tmp_path / "absent.yml", {})


def test_secret_never_appears_in_an_error(tmp_path: Path) -> None:
    message = error_of(tmp_path, "version: 0.1\nhttp:\n  secret: hunter2\n  addr: nowhere\n")
    assert "hunter2" not in message


# --- environment overrides ----------------------------------------------------------------


def env_config(tmp_path: Path, env: dict[str, str], text: str = "version: 0.1\n") -> Config:
    return load_text(tmp_path, text, env)


@pytest.mark.parametrize(
    ("variable", "value", "read"),
    [
        ("REGISTRY_HTTP_ADDR", "127.0.0.1:5001", lambda c: c.http.addr),
        ("REGISTRY_HTTP_HOST", "https://r.example.com", lambda c: c.http.host),
        ("REGISTRY_HTTP_SECRET", "from-env", lambda c: c.http.secret),
        ("REGISTRY_STORAGE_DELETE_ENABLED", "true", lambda c: c.storage.delete_enabled),
        (
            "REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED",
            "true",
            lambda c: c.storage.readonly,
        ),
        ("REGISTRY_LOG_LEVEL", "debug", lambda c: c.log.level),
        ("REGISTRY_LOG_ACCESSLOG_DISABLED", "true", lambda c: c.log.accesslog_disabled),
        ("REGISTRY_HTTP_WORKERS", "3", lambda c: c.http.workers),
    ],
)
def test_environment_overrides_a_key(tmp_path: Path, variable: str, value: str, read: Any) -> None:
    config = env_config(tmp_path, {variable: value})
    expected: Any = {"true": True, "3": 3}.get(value, value)
    assert read(config) == expected


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    config = env_config(
        tmp_path,
        {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(tmp_path / "elsewhere")},
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /srv/registry\n",
    )
    assert config.storage.parameters["rootdirectory"] == str(tmp_path / "elsewhere")


def test_environment_rootdirectory_applies_without_a_file(tmp_path: Path) -> None:
    config = load(None, {"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": "/srv/r"}, cwd=tmp_path)
    assert config.storage.driver == "filesystem"
    assert config.storage.parameters == {"rootdirectory": "/srv/r"}


def test_environment_string_keeps_its_text_where_a_string_is_expected(tmp_path: Path) -> None:
    config = env_config(tmp_path, {"REGISTRY_HTTP_SECRET": "0123"})
    assert config.http.secret == "0123"


def test_environment_bad_boolean_is_rejected_naming_the_key(tmp_path: Path) -> None:
    message = error_of(tmp_path, "version: 0.1\n", {"REGISTRY_STORAGE_DELETE_ENABLED": "maybe"})
    assert message == "storage.delete.enabled: expected a boolean, got 'maybe'"


def test_environment_selects_the_storage_driver_replacing_the_files(tmp_path: Path) -> None:
    config = env_config(
        tmp_path,
        {"REGISTRY_STORAGE": "s3", "REGISTRY_STORAGE_S3_BUCKET": "images"},
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /srv\n  delete:\n"
        "    enabled: true\n",
    )
    assert config.storage.driver == "s3"
    assert config.storage.params == S3Params(bucket="images")
    assert config.storage.delete_enabled


def test_environment_driver_parameters_are_read_as_yaml_scalars(tmp_path: Path) -> None:
    config = env_config(
        tmp_path,
        {
            "REGISTRY_STORAGE": "s3",
            "REGISTRY_STORAGE_S3_BUCKET": "images",
            "REGISTRY_STORAGE_S3_SECURE": "false",
            "REGISTRY_STORAGE_S3_CHUNKSIZE": "5242880",
        },
    )
    assert config.storage.params == S3Params(bucket="images", secure=False, chunksize=5242880)


def test_environment_selects_inmemory_storage(tmp_path: Path) -> None:
    config = load(None, {"REGISTRY_STORAGE": "inmemory"}, cwd=tmp_path)
    assert config.storage.driver == "inmemory"


def test_environment_matches_keys_that_contain_underscores(tmp_path: Path) -> None:
    config = env_config(
        tmp_path,
        {"REGISTRY_STORAGE_S3_LIST_PAGE_SIZE": "3"},
        "version: 0.1\nstorage:\n  s3:\n    bucket: b\n    list_page_size: 1\n",
    )
    assert config.storage.parameters["list_page_size"] == 3


def test_environment_reaches_auth_options(tmp_path: Path) -> None:
    config = env_config(tmp_path, {"REGISTRY_AUTH_HTPASSWD_PATH": "/etc/htpasswd"})
    assert config.auth.htpasswd == HtpasswdAuthConfig(path="/etc/htpasswd")


def test_environment_lists_are_read_as_yaml_lists_or_comma_separated_names(
    tmp_path: Path,
) -> None:
    environ = {
        "REGISTRY_AUTH_RATELIMIT_TRUSTEDPROXIES": "[10.0.0.0/8, 192.168.1.1]",
        "REGISTRY_VALIDATION_MANIFESTS_URLS_ALLOW": "[^https://a/, ^https://b/]",
        "REGISTRY_AUTH_TOKEN_REALM": "https://r/auth",
        "REGISTRY_AUTH_TOKEN_SERVICE": "s",
        "REGISTRY_AUTH_TOKEN_ISSUER": "i",
        "REGISTRY_AUTH_TOKEN_SIGNINGALGORITHMS": "ES256, RS256",
    }
    config = env_config(tmp_path, environ)
    assert [str(n) for n in config.auth.ratelimit.trustedproxies] == [
        "10.0.0.0/8",
        "192.168.1.1/32",
    ]
    assert config.validation.manifest_urls_allow == ("^https://a/", "^https://b/")
    assert config.auth.token is not None
    assert config.auth.token.signingalgorithms == ("ES256", "RS256")


def test_environment_durations_are_parsed(tmp_path: Path) -> None:
    config = env_config(tmp_path, {"REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE": "10m"})
    assert config.storage.uploadpurging.age == timedelta(minutes=10)


def test_environment_unknown_section_is_warned_about(tmp_path: Path) -> None:
    config = env_config(tmp_path, {"REGISTRY_SHINY": "1", "REGISTRY_HTTP_SECRET": "x"})
    assert config.warnings == ("shiny: unknown key; ignored",)


def test_configuration_path_variable_is_not_an_override(tmp_path: Path) -> None:
    config = env_config(
        tmp_path, {"REGISTRY_CONFIGURATION_PATH": "/x.yml", "REGISTRY_HTTP_SECRET": "x"}
    )
    assert config.warnings == ()


def test_unrelated_environment_is_ignored(tmp_path: Path) -> None:
    config = env_config(tmp_path, {"HTTP_ADDR": ":1", "REGISTRY_HTTP_SECRET": "x"})
    assert config.http.addr == ":5000"


# --- values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("168h", timedelta(hours=168)),
        ("10m", timedelta(minutes=10)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1.5s", timedelta(seconds=1.5)),
        ("300ms", timedelta(milliseconds=300)),
        ("10us", timedelta(microseconds=10)),
        ("0", timedelta(0)),
        ("-2m", timedelta(minutes=-2)),
    ],
)
def test_go_durations_are_parsed(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "10", "h", "1d", "1 h", "1h 30m", "--1s"])
def test_malformed_go_durations_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("addr", "expected"),
    [
        (":5000", ("0.0.0.0", 5000)),
        ("localhost:5000", ("127.0.0.1", 5000)),
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("[::1]:5000", ("::1", 5000)),
        ("registry.internal:443", ("registry.internal", 443)),
    ],
)
def test_listen_addresses_are_split(addr: str, expected: tuple[str, int]) -> None:
    assert parse_addr(addr, "http.addr") == expected


def test_prefix_is_normalised_without_trailing_slash(tmp_path: Path) -> None:
    config = load_text(tmp_path, "version: 0.1\nhttp:\n  prefix: /my/registry/\n")
    assert config.http.prefix == "/my/registry"


def test_host_keeps_scheme_and_loses_trailing_slash(tmp_path: Path) -> None:
    config = load_text(tmp_path, "version: 0.1\nhttp:\n  host: https://r.example.com:5000/\n")
    assert config.http.host == "https://r.example.com:5000"


def test_invalid_secret_value_is_not_repeated_in_the_error(tmp_path: Path) -> None:
    message = error_of(tmp_path, "version: 0.1\nhttp:\n  secret: [hunter2]\n")
    assert message == "http.secret: expected a string, got a value (hidden)"


# --- strictness: what serve would fail on, config check reports -------------------------


TLS = "version: 0.1\nhttp:\n  tls:\n    certificate: cert.pem\n    key: key.pem\n"


def test_a_certificate_that_is_not_pem_is_rejected_naming_the_key(tmp_path: Path) -> None:
    write_certificate(tmp_path)
    (tmp_path / "cert.pem").write_text("not a certificate")
    assert error_of(tmp_path, TLS).startswith("http.tls.certificate: not a PEM certificate")


def test_a_key_that_does_not_fit_the_certificate_is_rejected_naming_the_key(
    tmp_path: Path,
) -> None:
    write_certificate(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    write_certificate(other)
    (tmp_path / "key.pem").write_bytes((other / "key.pem").read_bytes())
    assert error_of(tmp_path, TLS).startswith("http.tls.key: not an unencrypted PEM private key")


def test_a_client_ca_that_is_not_pem_is_rejected_naming_the_key(tmp_path: Path) -> None:
    write_certificate(tmp_path)
    (tmp_path / "bad-ca.pem").write_text("nope")
    message = error_of(tmp_path, TLS + "    clientcas: [ca.pem, bad-ca.pem]\n")
    assert message.startswith("http.tls.clientcas[1]: not a PEM certificate")


def test_an_unknown_minimumtls_is_rejected_naming_the_key(tmp_path: Path) -> None:
    write_certificate(tmp_path)
    message = error_of(tmp_path, TLS + "    minimumtls: ssl3\n")
    assert message.startswith("http.tls.minimumtls: expected one of")


def test_an_old_minimumtls_is_raised_to_tls_1_2_with_a_warning(tmp_path: Path) -> None:
    write_certificate(tmp_path)
    config = load_text(tmp_path, TLS + "    minimumtls: tls1.0\n")
    assert "http.tls.minimumtls: tls1.0 is not offered; using tls1.2" in config.warnings


@pytest.mark.parametrize(
    ("driver", "typo"),
    [("filesystem", "rootdirectroy"), ("s3", "regionendpint"), ("inmemory", "size")],
)
def test_an_unknown_key_in_a_driver_section_is_warned_about_naming_it(
    tmp_path: Path, driver: str, typo: str
) -> None:
    bucket = "    bucket: b\n" if driver == "s3" else ""
    config = load_text(tmp_path, f"version: 0.1\nstorage:\n  {driver}:\n{bucket}    {typo}: x\n")
    assert f"storage.{driver}.{typo}: unknown key; ignored" in config.warnings
    assert typo not in config.storage.parameters


def test_driver_parameters_are_typed(tmp_path: Path) -> None:
    text = "version: 0.1\nstorage:\n  s3:\n    bucket: b\n    secure: maybe\n"
    assert error_of(tmp_path, text) == "storage.s3.secure: expected a boolean, got 'maybe'"


def test_a_reference_only_driver_key_is_accepted_with_a_warning(tmp_path: Path) -> None:
    config = load_text(tmp_path, "version: 0.1\nstorage:\n  s3:\n    bucket: b\n    v4auth: true\n")
    assert "storage.s3.v4auth: not supported; ignored" in config.warnings
    assert "v4auth" not in config.storage.parameters


def test_an_htpasswd_path_that_is_a_folder_is_refused_saying_why(tmp_path: Path) -> None:
    text = f"version: 0.1\nauth:\n  htpasswd:\n    realm: r\n    path: {tmp_path}\n"
    message = error_of(tmp_path, text)
    assert message.startswith(f"auth.htpasswd.path: {tmp_path} is a folder, not an htpasswd file")
    assert "the reference registry starts with it but then refuses every login" in message


def test_an_unknown_auth_key_is_warned_about_like_any_other(tmp_path: Path) -> None:
    text = "version: 0.1\nauth:\n  htpasswd:\n    path: /etc/htpasswd\n    relam: x\n"
    config = load_text(tmp_path, text)
    assert "auth.htpasswd.relam: unknown key; ignored" in config.warnings
    assert config.auth.htpasswd == HtpasswdAuthConfig(path="/etc/htpasswd")


@pytest.mark.parametrize(
    ("value", "seconds"), [("90s", 90), ("1h30m", 5400), ("1.5s", 1.5), ("90", 90), (90, 90)]
)
def test_auth_and_storage_durations_share_one_grammar(
    tmp_path: Path, value: object, seconds: float
) -> None:
    config = load_text(
        tmp_path,
        f"version: 0.1\nstorage:\n  inmemory:\n  maintenance:\n    uploadpurging:\n"
        f"      age: {value}\nauth:\n  token:\n    realm: r\n    service: s\n"
        f"    issuer: i\n    leeway: {value}\n",
    )
    assert config.storage.uploadpurging.age == timedelta(seconds=seconds)
    assert config.auth.token is not None
    assert config.auth.token.leeway == timedelta(seconds=seconds)
