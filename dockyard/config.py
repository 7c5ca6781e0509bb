"""dockyard's configuration: the reference registry's ``config.yml``, typed and validated.

A file written for the reference registry (CNCF distribution) loads unchanged: the sections
dockyard implements become typed dataclasses, sections and keys it does not know or does
not support are reported as warnings, never fatal. Values are checked at load time and a
bad one raises ``ConfigError`` naming its key (``storage.delete.enabled: expected a
boolean, got 'maybe'``).

Environment variables override the file the reference's way: ``REGISTRY_HTTP_ADDR=:5001``
sets ``http.addr``; every ``_`` descends one level, values are read as YAML scalars, and
``REGISTRY_STORAGE=s3`` selects the storage driver (replacing the file's driver section).
Options dockyard adds sit under their natural section (``http.workers``).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import yaml

from dockyard.errors import DockyardError

logger = logging.getLogger(__name__)

#: Where ``dockyard serve`` keeps its data when there is no configuration at all.
DEFAULT_DATA_DIR: Final = ".data"
#: The reference's default root for a ``filesystem`` section without ``rootdirectory``.
REFERENCE_FILESYSTEM_ROOT: Final = "/var/lib/registry"
DEFAULT_ADDR: Final = ":5000"
ENV_PREFIX: Final = "REGISTRY_"
#: Names the configuration file when none is given on the command line (as the reference).
CONFIG_PATH_ENV: Final = "REGISTRY_CONFIGURATION_PATH"

STORAGE_DRIVERS: Final = ("filesystem", "inmemory", "s3")
_STORAGE_OPTIONS: Final = ("delete", "redirect", "cache", "maintenance")
_LOG_LEVELS: Final = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
    "panic": logging.CRITICAL,
}
_TLS_VERSIONS: Final = ("tls1.0", "tls1.1", "tls1.2", "tls1.3")
#: Sections the reference knows that dockyard accepts but does not act on.
_UNSUPPORTED_SECTIONS: Final = {
    "notifications": "webhook notifications are not supported; section ignored",
    "proxy": "pull-through caching is not supported; section ignored",
    "middleware": "middleware is not supported; section ignored",
    "reporting": "error reporting services are not supported; section ignored",
    "health": "health checks beyond GET /v2/ are not supported; section ignored",
    "compatibility": "compatibility options are not needed; section ignored",
}


class ConfigError(DockyardError):
    """The configuration is invalid; the message names the offending key."""


# --- the model ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogConfig:
    """``log``: verbosity, format and the access log."""

    level: str = "info"
    formatter: str = "text"
    accesslog_disabled: bool = False
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def python_level(self) -> int:
        """The ``logging`` level this configuration's ``level`` stands for."""
        return _LOG_LEVELS[self.level]


@dataclass(frozen=True, slots=True)
class UploadPurgingConfig:
    """``storage.maintenance.uploadpurging``: removing abandoned upload sessions."""

    enabled: bool = True
    age: timedelta = timedelta(hours=168)
    interval: timedelta = timedelta(hours=24)
    dryrun: bool = False


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """``storage.cache``: the blob descriptor cache (``inmemory``, ``redis`` or none)."""

    blobdescriptor: str | None = None
    blobdescriptorsize: int = 10000


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """``storage``: the driver with its parameters, and the storage options."""

    driver: str
    parameters: dict[str, Any]
    delete_enabled: bool = False
    redirect_disabled: bool = False
    cache: CacheConfig = field(default_factory=CacheConfig)
    uploadpurging: UploadPurgingConfig = field(default_factory=UploadPurgingConfig)
    readonly: bool = False


@dataclass(frozen=True, slots=True)
class TLSConfig:
    """``http.tls``: the server certificate, and client CAs for mutual TLS."""

    certificate: str
    key: str
    clientcas: tuple[str, ...] = ()
    minimumtls: str = "tls1.2"


@dataclass(frozen=True, slots=True)
class HTTPConfig:
    """``http``: where and how the registry listens, and what it puts in URLs."""

    secret: str
    addr: str = DEFAULT_ADDR
    net: str = "tcp"
    prefix: str = ""
    host: str | None = None
    relativeurls: bool = False
    draintimeout: timedelta | None = None
    tls: TLSConfig | None = None
    headers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: dockyard's addition: server worker processes (None: chosen at start-up).
    workers: int | None = None
    #: True when ``secret`` was generated because the configuration had none.
    secret_generated: bool = False

    @property
    def bind(self) -> tuple[str, int]:
        """The ``(host, port)`` to listen on for a TCP ``addr``."""
        return parse_addr(self.addr, "http.addr")


@dataclass(frozen=True, slots=True)
class RedisConfig:
    """``redis``: the connection shared by caches and scale-out state."""

    addr: str
    username: str | None = None
    password: str | None = None
    db: int = 0
    dialtimeout: timedelta | None = None
    readtimeout: timedelta | None = None
    writetimeout: timedelta | None = None
    pool_maxidle: int | None = None
    pool_maxactive: int | None = None
    pool_idletimeout: timedelta | None = None
    tls_enabled: bool = False


@dataclass(frozen=True, slots=True)
class ValidationConfig:
    """``validation``: which foreign-layer URLs a manifest may reference."""

    disabled: bool = False
    manifest_urls_allow: tuple[str, ...] = ()
    manifest_urls_deny: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration of one dockyard process."""

    storage: StorageConfig
    http: HTTPConfig
    version: str = "0.1"
    log: LogConfig = field(default_factory=LogConfig)
    #: Authentication scheme name → its options, passed through to ``dockyard.auth``.
    auth: dict[str, dict[str, Any]] = field(default_factory=dict)
    redis: RedisConfig | None = None
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    #: ``catalog.maxentries``: the most repositories one catalog page returns.
    catalog_maxentries: int = 1000
    #: Sections kept as given (``notifications``, ``proxy``, ``health`` …), unsupported.
    extra: dict[str, Any] = field(default_factory=dict)
    #: What was ignored or defaulted while loading, for the operator.
    warnings: tuple[str, ...] = ()
    #: The file the configuration came from, if any.
    source: str | None = None


# --- loading ------------------------------------------------------------------------------


def load(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    cwd: str | os.PathLike[str] | None = None,
) -> Config:
    """Read, override from the environment, and validate the configuration.

    ``path`` None means no file: the embedded default (filesystem storage in ``./.data``,
    port 5000), still subject to environment overrides.
    """
    env = os.environ if environ is None else environ
    tree: dict[str, Any] = {}
    if path is not None:
        tree = read_file(path)
    return from_dict(tree, env, cwd=cwd, source=None if path is None else str(path))


def read_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The YAML mapping in ``path``; ``ConfigError`` if unreadable or not a mapping."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    try:
        tree = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"configuration file {path} is not valid YAML{where}") from None
    if tree is None:
        return {}
    if not isinstance(tree, dict):
        raise ConfigError("configuration: expected a mapping at the top level")
    return tree


def from_dict(
    tree: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    *,
    cwd: str | os.PathLike[str] | None = None,
    source: str | None = None,
) -> Config:
    """Validate a configuration tree (as parsed from YAML) after environment overrides."""
    warnings: list[str] = []
    data = _normalise_storage(dict(tree))
    apply_env(data, {} if environ is None else environ, warnings)
    base = Path(cwd) if cwd is not None else Path.cwd()
    return _build(data, base, warnings, has_file=source is not None or bool(tree), source=source)


# --- environment overrides ----------------------------------------------------------------


class _EnvText(str):
    """A value that came from the environment: text, read as YAML where a type is needed."""

    __slots__ = ()


def apply_env(tree: dict[str, Any], environ: Mapping[str, str], warnings: list[str]) -> None:
    """Apply ``REGISTRY_*`` overrides to ``tree`` in place, shorter paths first."""
    overrides = sorted(
        (name[len(ENV_PREFIX) :].split("_"), value)
        for name, value in environ.items()
        if name.startswith(ENV_PREFIX) and name != CONFIG_PATH_ENV
    )
    overrides.sort(key=lambda item: len(item[0]))
    for parts, value in overrides:
        if not all(parts):
            warnings.append(f"ignoring environment variable {ENV_PREFIX}{'_'.join(parts)}")
            continue
        if parts[0] == "VERSION":
            warnings.append(f"{ENV_PREFIX}VERSION: the version cannot be overridden; ignored")
            continue
        if parts == ["STORAGE"]:
            _select_driver(tree, value)
            continue
        _set_path(tree, parts, _EnvText(value))


def _select_driver(tree: dict[str, Any], name: str) -> None:
    storage = tree.get("storage")
    if not isinstance(storage, dict):
        storage = {}
    kept = {k: v for k, v in storage.items() if k in _STORAGE_OPTIONS}
    kept[name.strip().lower()] = {}
    tree["storage"] = kept


def _set_path(tree: dict[str, Any], parts: list[str], value: _EnvText) -> None:
    node = tree
    index = 0
    while index < len(parts):
        key, index = _match_key(node, parts, index)
        if index == len(parts):
            node[key] = value
            return
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child


def _match_key(node: Mapping[str, Any], parts: list[str], start: int) -> tuple[str, int]:
    """The key ``parts[start:]`` names in ``node``, and where the rest of the path begins.

    Existing keys are matched case-insensitively and may themselves contain ``_``
    (longest match first); otherwise the next component, lower-cased, is a new key.
    """
    existing = {str(k).upper(): str(k) for k in node}
    for end in range(len(parts), start, -1):
        candidate = "_".join(parts[start:end])
        if candidate in existing:
            return existing[candidate], end
    return parts[start].lower(), start + 1


def _plain(value: Any) -> Any:
    """``value`` with environment text read as YAML scalars, for pass-through sections."""
    if isinstance(value, _EnvText):
        return _yaml_scalar(str(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _yaml_scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


# --- validation ---------------------------------------------------------------------------


class _Section:
    """Typed access to one mapping of the tree, naming keys by their dotted path.

    Keys read are remembered, so ``finish`` can report every key nobody asked for.
    """

    def __init__(self, data: Any, path: str, warnings: list[str]) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping, got {_show(data, path)}")
        self.data: dict[str, Any] = data
        self.path = path
        self.warnings = warnings
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def raw(self, name: str) -> Any:
        self.used.add(name)
        return self.data.get(name)

    def section(self, name: str) -> _Section:
        return _Section(self.raw(name), self.key(name), self.warnings)

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            word = value.strip().lower()
            if word in ("true", "yes", "on", "y"):
                return True
            if word in ("false", "no", "off", "n"):
                return False
        raise ConfigError(f"{self.key(name)}: expected a boolean, got {_show(value, name)}")

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, (bool, dict, list)):
            raise ConfigError(f"{self.key(name)}: expected a string, got {_show(value, name)}")
        return str(value)

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = (self.text(name, default) or default).strip().lower()
        if value not in choices:
            raise ConfigError(
                f"{self.key(name)}: expected one of {', '.join(choices)}, got {_show(value, name)}"
            )
        return value

    def integer(self, name: str, default: int | None, minimum: int = 0) -> int | None:
        value = self.raw(name)
        if value is None:
            return default
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            number = int(value)
        if number is None:
            raise ConfigError(f"{self.key(name)}: expected an integer, got {_show(value, name)}")
        if number < minimum:
            raise ConfigError(f"{self.key(name)}: must be at least {minimum}, got {number}")
        return number

    def duration(self, name: str, default: timedelta | None) -> timedelta | None:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, int) and not isinstance(value, bool) and value == 0:
            return timedelta(0)
        if isinstance(value, str):
            try:
                return parse_duration(value)
            except ValueError:
                pass
        raise ConfigError(
            f"{self.key(name)}: expected a duration such as '168h' or '10m', "
            f"got {_show(value, name)}"
        )

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.raw(name)
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
            return tuple(str(v) for v in value)
        raise ConfigError(f"{self.key(name)}: expected a list of strings, got {_show(value, name)}")

    def finish(self, *, ignored: tuple[str, ...] = ()) -> None:
        """Warn about every key that was not read."""
        for name in self.data:
            if name in self.used:
                continue
            reason = "not supported; ignored" if name in ignored else "unknown key; ignored"
            self.warnings.append(f"{self.key(str(name))}: {reason}")


_SECRET_KEY: Final = re.compile(r"secret|password|passwd|token|accesskey|privatekey", re.I)


def _show(value: Any, key: str = "") -> str:
    """``value`` for an error message: quoted, shortened, and hidden under secret keys."""
    if _SECRET_KEY.search(key.rsplit(".", 1)[-1]):
        return "a value (hidden)"
    text = repr(str(value) if isinstance(value, _EnvText) else value)
    return text if len(text) <= 60 else text[:57] + "..."


def _normalise_storage(tree: dict[str, Any]) -> dict[str, Any]:
    """Turn the reference's short form ``storage: inmemory`` into a mapping."""
    storage = tree.get("storage")
    if isinstance(storage, str):
        tree["storage"] = {storage.strip().lower(): {}}
    return tree


def _build(
    tree: dict[str, Any], cwd: Path, warnings: list[str], *, has_file: bool, source: str | None
) -> Config:
    root = _Section(tree, "", warnings)
    version = _version(root, has_file)
    log = _log(root)
    redis = _redis(root.section("redis")) if root.has("redis") else None
    storage = _storage(root, cwd, redis)
    http = _http(root.section("http"), cwd, warnings)
    auth = _auth(root.section("auth"))
    validation = _validation(root.section("validation"))
    catalog = root.section("catalog")
    maxentries = catalog.integer("maxentries", 1000, minimum=1)
    catalog.finish()
    extra: dict[str, Any] = {}
    for name, reason in _UNSUPPORTED_SECTIONS.items():
        value = root.raw(name)
        if value:
            extra[name] = _plain(value)
            warnings.append(f"{name}: {reason}")
    root.finish()
    if http.secret_generated:
        warnings.append(
            "http.secret: not set; generated a random secret, so upload sessions cannot "
            "span several registry instances (set http.secret to share them)"
        )
    return Config(
        version=version,
        log=log,
        storage=storage,
        http=http,
        auth=auth,
        redis=redis,
        validation=validation,
        catalog_maxentries=maxentries if maxentries is not None else 1000,
        extra=extra,
        warnings=tuple(warnings),
        source=source,
    )


def _version(root: _Section, has_file: bool) -> str:
    value = root.raw("version")
    if value is None:
        if has_file:
            root.warnings.append("version: missing; assuming 0.1")
        return "0.1"
    text = str(value).strip()
    if not re.fullmatch(r"0\.\d+", text):
        raise ConfigError(f"version: dockyard understands version 0.1, got {_show(value)}")
    return text


def _log(root: _Section) -> LogConfig:
    section = root.section("log")
    legacy = root.text("loglevel")
    if legacy is not None:
        root.warnings.append("loglevel: deprecated, use log.level")
    level_default = legacy.strip().lower() if legacy else "info"
    if level_default not in _LOG_LEVELS:
        raise ConfigError(
            f"loglevel: expected one of {', '.join(_LOG_LEVELS)}, got {_show(level_default)}"
        )
    level = section.choice("level", level_default, tuple(_LOG_LEVELS))
    formatter = section.choice("formatter", "text", ("text", "json", "logstash"))
    accesslog = section.section("accesslog")
    disabled = accesslog.boolean("disabled", False)
    accesslog.finish()
    fields_raw = section.raw("fields") or {}
    if not isinstance(fields_raw, dict):
        raise ConfigError(f"log.fields: expected a mapping, got {_show(fields_raw)}")
    fields = {str(k): str(_plain(v)) for k, v in fields_raw.items()}
    section.finish(ignored=("hooks", "reportcaller"))
    return LogConfig(level=level, formatter=formatter, accesslog_disabled=disabled, fields=fields)


def _storage(root: _Section, cwd: Path, redis: RedisConfig | None) -> StorageConfig:
    section = root.section("storage")
    drivers = [k for k in section.data if k not in _STORAGE_OPTIONS]
    if not drivers:
        driver, params = "filesystem", {"rootdirectory": str(cwd / DEFAULT_DATA_DIR)}
    else:
        if len(drivers) > 1:
            raise ConfigError(
                f"storage: configure exactly one driver, got {', '.join(sorted(drivers))}"
            )
        driver = drivers[0]
        if driver not in STORAGE_DRIVERS:
            raise ConfigError(
                f"storage.{driver}: unsupported storage driver "
                f"(dockyard supports {', '.join(STORAGE_DRIVERS)})"
            )
        params = _driver_params(section.section(driver), cwd)
    delete = section.section("delete")
    delete_enabled = delete.boolean("enabled", False)
    delete.finish()
    redirect = section.section("redirect")
    redirect_disabled = redirect.boolean("disable", False)
    redirect.finish()
    cache = _cache(section.section("cache"), redis)
    maintenance = section.section("maintenance")
    purging = _uploadpurging(maintenance.section("uploadpurging"))
    readonly_section = maintenance.section("readonly")
    readonly = readonly_section.boolean("enabled", False)
    readonly_section.finish()
    maintenance.finish()
    return StorageConfig(
        driver=driver,
        parameters=params,
        delete_enabled=delete_enabled,
        redirect_disabled=redirect_disabled,
        cache=cache,
        uploadpurging=purging,
        readonly=readonly,
    )


def _driver_params(section: _Section, cwd: Path) -> dict[str, Any]:
    name = section.path.rsplit(".", 1)[-1]
    section.used.update(section.data)
    params = {str(k): _plain(v) for k, v in section.data.items()}
    if name == "filesystem":
        root = section.text("rootdirectory", REFERENCE_FILESYSTEM_ROOT) or REFERENCE_FILESYSTEM_ROOT
        params["rootdirectory"] = str(cwd / Path(root).expanduser())
    elif name == "s3":
        for required in ("bucket",):
            if not params.get(required):
                raise ConfigError(f"{section.key(required)}: required for the s3 driver")
    return params


def _cache(section: _Section, redis: RedisConfig | None) -> CacheConfig:
    legacy = section.text("layerinfo")
    if legacy is not None:
        section.warnings.append("storage.cache.layerinfo: deprecated, use blobdescriptor")
    kind = section.text("blobdescriptor", legacy)
    if kind is not None:
        kind = kind.strip().lower()
        if kind not in ("inmemory", "redis"):
            raise ConfigError(
                f"storage.cache.blobdescriptor: expected inmemory or redis, got {_show(kind)}"
            )
        if kind == "redis" and redis is None:
            raise ConfigError("storage.cache.blobdescriptor: redis needs a redis.addr")
    size = section.integer("blobdescriptorsize", 10000)
    section.finish()
    return CacheConfig(blobdescriptor=kind, blobdescriptorsize=10000 if size is None else size)


def _uploadpurging(section: _Section) -> UploadPurgingConfig:
    defaults = UploadPurgingConfig()
    purging = UploadPurgingConfig(
        enabled=section.boolean("enabled", defaults.enabled),
        age=section.duration("age", defaults.age) or defaults.age,
        interval=section.duration("interval", defaults.interval) or defaults.interval,
        dryrun=section.boolean("dryrun", defaults.dryrun),
    )
    if purging.enabled and purging.interval <= timedelta(0):
        raise ConfigError("storage.maintenance.uploadpurging.interval: must be positive")
    section.finish()
    return purging


def _http(section: _Section, cwd: Path, warnings: list[str]) -> HTTPConfig:
    net = section.choice("net", "tcp", ("tcp", "unix"))
    addr = section.text("addr", DEFAULT_ADDR) or DEFAULT_ADDR
    if net == "tcp":
        parse_addr(addr, "http.addr")
    prefix = _prefix(section.text("prefix", "") or "")
    host = section.text("host")
    if host is not None:
        parts = urlsplit(host)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"http.host: expected an absolute URL such as https://registry.example.com, "
                f"got {_show(host)}"
            )
        host = host.rstrip("/")
    secret = section.text("secret")
    generated = not secret
    if not secret:
        secret = secrets.token_urlsafe(32)
    tls = _tls(section.section("tls"), cwd) if section.has("tls") else None
    headers = _headers(section.section("headers"))
    workers = section.integer("workers", None, minimum=1)
    debug = section.raw("debug")
    if debug:
        warnings.append("http.debug: the debug server is not supported; ignored")
    http2 = section.section("http2")
    http2.boolean("disabled", False)
    http2.finish()
    h2c = section.section("h2c")
    if h2c.boolean("enabled", False):
        warnings.append("http.h2c.enabled: HTTP/2 over cleartext is not supported; ignored")
    h2c.finish()
    config = HTTPConfig(
        addr=addr,
        net=net,
        prefix=prefix,
        host=host,
        secret=secret,
        secret_generated=generated,
        relativeurls=section.boolean("relativeurls", False),
        draintimeout=section.duration("draintimeout", None),
        tls=tls,
        headers=headers,
        workers=workers,
    )
    section.finish()
    return config


def _prefix(value: str) -> str:
    """``/my/registry/`` → ``/my/registry``; empty for the root."""
    value = value.strip().strip("/")
    if not value:
        return ""
    if not re.fullmatch(r"[A-Za-z0-9._~!$&'()*+,;=:@%/-]+", value) or "//" in value:
        raise ConfigError(f"http.prefix: not a valid URL path, got {_show(value)}")
    return "/" + value


def _tls(section: _Section, cwd: Path) -> TLSConfig:
    def existing(name: str, value: str) -> str:
        resolved = cwd / Path(value).expanduser()
        if not resolved.is_file():
            raise ConfigError(f"{name}: file not found")
        return str(resolved)

    certificate = section.text("certificate")
    key = section.text("key")
    if not certificate or not key:
        missing = "certificate" if not certificate else "key"
        raise ConfigError(f"http.tls.{missing}: required when http.tls is configured")
    clientcas = tuple(
        existing(f"http.tls.clientcas[{i}]", ca)
        for i, ca in enumerate(section.strings("clientcas"))
    )
    config = TLSConfig(
        certificate=existing("http.tls.certificate", certificate),
        key=existing("http.tls.key", key),
        clientcas=clientcas,
        minimumtls=section.choice("minimumtls", "tls1.2", _TLS_VERSIONS),
    )
    section.finish(ignored=("ciphersuites", "letsencrypt"))
    return config


def _headers(section: _Section) -> dict[str, tuple[str, ...]]:
    headers: dict[str, tuple[str, ...]] = {}
    for name in list(section.data):
        if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", str(name)):
            raise ConfigError(f"http.headers.{name}: not a valid header name")
        values = section.strings(str(name))
        for value in values:
            if "\n" in value or "\r" in value:
                raise ConfigError(f"http.headers.{name}: header values cannot span lines")
        headers[str(name)] = values
    return headers


def _auth(section: _Section) -> dict[str, dict[str, Any]]:
    auth: dict[str, dict[str, Any]] = {}
    for name in list(section.data):
        options = section.raw(str(name))
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise ConfigError(f"auth.{name}: expected a mapping, got {_show(options)}")
        auth[str(name).lower()] = _plain(options)
    return auth


def _redis(section: _Section) -> RedisConfig:
    addr = section.text("addr")
    if not addr:
        addrs = section.strings("addrs")
        if not addrs:
            raise ConfigError("redis.addr: required when the redis section is present")
        addr = addrs[0]
    parse_addr(addr, "redis.addr")
    pool = section.section("pool")
    tls = section.section("tls")
    config = RedisConfig(
        addr=addr,
        username=section.text("username"),
        password=section.text("password"),
        db=section.integer("db", 0) or 0,
        dialtimeout=section.duration("dialtimeout", None),
        readtimeout=section.duration("readtimeout", None),
        writetimeout=section.duration("writetimeout", None),
        pool_maxidle=pool.integer("maxidle", None),
        pool_maxactive=pool.integer("maxactive", None),
        pool_idletimeout=pool.duration("idletimeout", None),
        tls_enabled=tls.boolean("enabled", False),
    )
    pool.finish()
    tls.finish()
    section.finish()
    return config


def _validation(section: _Section) -> ValidationConfig:
    disabled = section.boolean("disabled", False)
    enabled = section.raw("enabled")
    if enabled is not None:
        disabled = not section.boolean("enabled", True)
    manifests = section.section("manifests")
    urls = manifests.section("urls")
    allow = urls.strings("allow")
    deny = urls.strings("deny")
    for name, patterns in (("allow", allow), ("deny", deny)):
        for i, pattern in enumerate(patterns):
            try:
                re.compile(pattern)
            except re.error:
                raise ConfigError(
                    f"validation.manifests.urls.{name}[{i}]: not a valid regular expression"
                ) from None
    urls.finish()
    manifests.finish(ignored=("indexes",))
    section.finish()
    return ValidationConfig(disabled=disabled, manifest_urls_allow=allow, manifest_urls_deny=deny)


# --- values -------------------------------------------------------------------------------

_DURATION_PART: Final = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS: Final = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(text: str) -> timedelta:
    """Parse a Go duration (``168h``, ``1h30m``, ``1.5s``, ``300ms``, ``0``)."""
    value = text.strip()
    sign = 1
    if value[:1] in ("+", "-"):
        sign = -1 if value[0] == "-" else 1
        value = value[1:]
    if value == "0":
        return timedelta(0)
    if not value:
        raise ValueError(f"invalid duration {text!r}")
    total = 0.0
    position = 0
    while position < len(value):
        match = _DURATION_PART.match(value, position)
        if match is None:
            raise ValueError(f"invalid duration {text!r}")
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    return timedelta(seconds=sign * total)


def parse_addr(addr: str, key: str) -> tuple[str, int]:
    """Split ``host:port`` (``:5000``, ``localhost:5000``, ``[::1]:5000``) for listening.

    An empty host means every interface (``0.0.0.0``) and ``localhost`` the IPv4 loopback.
    """
    match = re.fullmatch(r"(?:\[([0-9A-Fa-f:.]+)\]|([^:\[\]]*)):(\d{1,5})", addr.strip())
    if match is None:
        raise ConfigError(f"{key}: expected host:port such as ':5000', got {_show(addr)}")
    host = match.group(1) or match.group(2) or ""
    port = int(match.group(3))
    if port > 65535:
        raise ConfigError(f"{key}: port {port} is out of range")
    if host in ("", "0.0.0.0"):  # noqa: S104 - ':5000' means every interface, as in Go
        return "0.0.0.0", port  # noqa: S104
    if host == "localhost":
        return "127.0.0.1", port
    if match.group(1) is not None:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigError(f"{key}: {host!r} is not an IPv6 address") from None
    return host, port
