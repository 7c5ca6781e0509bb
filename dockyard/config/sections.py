"""Validation: turning the configuration tree into the typed model, naming every bad key."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dockyard.config.environment import plain
from dockyard.config.model import (
    DEFAULT_ADDR,
    DEFAULT_DATA_DIR,
    LOG_LEVELS,
    REFERENCE_FILESYSTEM_ROOT,
    STORAGE_DRIVERS,
    STORAGE_OPTIONS,
    TLS_VERSIONS,
    UNSUPPORTED_SECTIONS,
    CacheConfig,
    Config,
    ConfigError,
    HTTPConfig,
    LogConfig,
    RedisConfig,
    StorageConfig,
    TLSConfig,
    UIConfig,
    UploadPurgingConfig,
    ValidationConfig,
)
from dockyard.config.values import parse_addr, parse_duration, show_value


class Section:
    """Typed access to one mapping of the tree, naming keys by their dotted path.

    Keys read are remembered, so ``finish`` can report every key nobody asked for.
    """

    def __init__(self, data: Any, path: str, warnings: list[str]) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping, got {show_value(data, path)}")
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

    def section(self, name: str) -> Section:
        return Section(self.raw(name), self.key(name), self.warnings)

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
        raise ConfigError(f"{self.key(name)}: expected a boolean, got {show_value(value, name)}")

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, (bool, dict, list)):
            raise ConfigError(f"{self.key(name)}: expected a string, got {show_value(value, name)}")
        return str(value)

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = (self.text(name, default) or default).strip().lower()
        if value not in choices:
            expected = ", ".join(choices)
            raise ConfigError(
                f"{self.key(name)}: expected one of {expected}, got {show_value(value, name)}"
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
            raise ConfigError(
                f"{self.key(name)}: expected an integer, got {show_value(value, name)}"
            )
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
            f"got {show_value(value, name)}"
        )

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.raw(name)
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
            return tuple(str(v) for v in value)
        raise ConfigError(
            f"{self.key(name)}: expected a list of strings, got {show_value(value, name)}"
        )

    def finish(self, *, ignored: tuple[str, ...] = ()) -> None:
        """Warn about every key that was not read."""
        for name in self.data:
            if name in self.used:
                continue
            reason = "not supported; ignored" if name in ignored else "unknown key; ignored"
            self.warnings.append(f"{self.key(str(name))}: {reason}")


def normalise_storage(tree: dict[str, Any]) -> dict[str, Any]:
    """Turn the reference's short form ``storage: inmemory`` into a mapping."""
    storage = tree.get("storage")
    if isinstance(storage, str):
        tree["storage"] = {storage.strip().lower(): {}}
    return tree


def build(
    tree: dict[str, Any], cwd: Path, warnings: list[str], *, has_file: bool, source: str | None
) -> Config:
    root = Section(tree, "", warnings)
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
    ui = _ui(root.section("ui"))
    extra: dict[str, Any] = {}
    for name, reason in UNSUPPORTED_SECTIONS.items():
        value = root.raw(name)
        if value:
            extra[name] = plain(value)
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
        ui=ui,
        extra=extra,
        warnings=tuple(warnings),
        source=source,
    )


def _version(root: Section, has_file: bool) -> str:
    value = root.raw("version")
    if value is None:
        if has_file:
            root.warnings.append("version: missing; assuming 0.1")
        return "0.1"
    text = str(value).strip()
    if not re.fullmatch(r"0\.\d+", text):
        raise ConfigError(f"version: dockyard understands version 0.1, got {show_value(value)}")
    return text


def _log(root: Section) -> LogConfig:
    section = root.section("log")
    legacy = root.text("loglevel")
    if legacy is not None:
        root.warnings.append("loglevel: deprecated, use log.level")
    level_default = legacy.strip().lower() if legacy else "info"
    if level_default not in LOG_LEVELS:
        raise ConfigError(
            f"loglevel: expected one of {', '.join(LOG_LEVELS)}, got {show_value(level_default)}"
        )
    level = section.choice("level", level_default, tuple(LOG_LEVELS))
    formatter = section.choice("formatter", "text", ("text", "json", "logstash"))
    accesslog = section.section("accesslog")
    disabled = accesslog.boolean("disabled", False)
    accesslog.finish()
    fields_raw = section.raw("fields") or {}
    if not isinstance(fields_raw, dict):
        raise ConfigError(f"log.fields: expected a mapping, got {show_value(fields_raw)}")
    fields = {str(k): str(plain(v)) for k, v in fields_raw.items()}
    section.finish(ignored=("hooks", "reportcaller"))
    return LogConfig(level=level, formatter=formatter, accesslog_disabled=disabled, fields=fields)


def _storage(root: Section, cwd: Path, redis: RedisConfig | None) -> StorageConfig:
    section = root.section("storage")
    drivers = [k for k in section.data if k not in STORAGE_OPTIONS]
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


def _driver_params(section: Section, cwd: Path) -> dict[str, Any]:
    name = section.path.rsplit(".", 1)[-1]
    section.used.update(section.data)
    params = {str(k): plain(v) for k, v in section.data.items()}
    if name == "filesystem":
        root = section.text("rootdirectory", REFERENCE_FILESYSTEM_ROOT) or REFERENCE_FILESYSTEM_ROOT
        params["rootdirectory"] = str(cwd / Path(root).expanduser())
    elif name == "s3":
        for required in ("bucket",):
            if not params.get(required):
                raise ConfigError(f"{section.key(required)}: required for the s3 driver")
    return params


def _cache(section: Section, redis: RedisConfig | None) -> CacheConfig:
    legacy = section.text("layerinfo")
    if legacy is not None:
        section.warnings.append("storage.cache.layerinfo: deprecated, use blobdescriptor")
    kind = section.text("blobdescriptor", legacy)
    if kind is not None:
        kind = kind.strip().lower()
        if kind not in ("inmemory", "redis"):
            raise ConfigError(
                f"storage.cache.blobdescriptor: expected inmemory or redis, got {show_value(kind)}"
            )
        if kind == "redis" and redis is None:
            raise ConfigError("storage.cache.blobdescriptor: redis needs a redis.addr")
    size = section.integer("blobdescriptorsize", 10000)
    section.finish()
    return CacheConfig(blobdescriptor=kind, blobdescriptorsize=10000 if size is None else size)


def _uploadpurging(section: Section) -> UploadPurgingConfig:
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


def _http(section: Section, cwd: Path, warnings: list[str]) -> HTTPConfig:
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
                f"got {show_value(host)}"
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
        raise ConfigError(f"http.prefix: not a valid URL path, got {show_value(value)}")
    return "/" + value


def _tls(section: Section, cwd: Path) -> TLSConfig:
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
        minimumtls=section.choice("minimumtls", "tls1.2", TLS_VERSIONS),
    )
    section.finish(ignored=("ciphersuites", "letsencrypt"))
    return config


def _headers(section: Section) -> dict[str, tuple[str, ...]]:
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


def _auth(section: Section) -> dict[str, dict[str, Any]]:
    auth: dict[str, dict[str, Any]] = {}
    for name in list(section.data):
        options = section.raw(str(name))
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise ConfigError(f"auth.{name}: expected a mapping, got {show_value(options)}")
        auth[str(name).lower()] = plain(options)
    return auth


def _redis(section: Section) -> RedisConfig:
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


def _validation(section: Section) -> ValidationConfig:
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


def _ui(section: Section) -> UIConfig:
    enabled = section.boolean("enabled", True)
    raw = section.text("path", "/ui") or "/ui"
    try:
        path = _prefix(raw)
    except ConfigError:
        raise ConfigError(f"ui.path: not a valid URL path, got {show_value(raw)}") from None
    if not path or path == "/v2" or path.startswith("/v2/"):
        raise ConfigError(f"ui.path: must be a path other than / and outside /v2, got {path!r}")
    section.finish()
    return UIConfig(enabled=enabled, path=path)
