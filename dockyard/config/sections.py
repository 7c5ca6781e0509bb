"""Validation: turning the configuration tree into the typed model, naming every bad key."""

from __future__ import annotations

import re
import secrets
import ssl
from dataclasses import fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dockyard.config.declare import declared, key_of, read
from dockyard.config.environment import EnvText, plain
from dockyard.config.model import (
    AUTH_SCHEMES,
    DEFAULT_ADDR,
    DEFAULT_DATA_DIR,
    DRIVER_PARAMS,
    LOG_LEVELS,
    STORAGE_DRIVERS,
    STORAGE_OPTIONS,
    UNSUPPORTED_SECTIONS,
    CacheConfig,
    Config,
    ConfigError,
    DriverParams,
    FilesystemParams,
    HTTPConfig,
    LogConfig,
    RedisConfig,
    S3Params,
    StorageConfig,
    TLSConfig,
    ValidationConfig,
)
from dockyard.config.values import duration, parse_addr, show_value


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
        try:
            return duration(str(value) if isinstance(value, EnvText) else value)
        except ValueError:
            raise ConfigError(
                f"{self.key(name)}: expected a duration such as '168h' or '10m', "
                f"got {show_value(value, name)}"
            ) from None

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

    def mapping(self, name: str) -> dict[str, str]:
        """A mapping of strings (``log.fields``), values as text."""
        value = self.raw(name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(
                f"{self.key(name)}: expected a mapping, got {show_value(value, name)}"
            )
        return {str(k): str(plain(v)) for k, v in value.items()}

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
    storage = _storage(root, cwd, redis, has_file)
    http = _http(root.section("http"), cwd, warnings)
    auth = _auth(root.section("auth"))
    validation = _validation(root.section("validation"))
    extra: dict[str, Any] = {}
    for name, reason in UNSUPPORTED_SECTIONS.items():
        value = root.raw(name)
        if value:
            extra[name] = plain(value)
            warnings.append(f"{name}: {reason}")
    config = read(
        Config,
        root,
        version=version,
        log=log,
        storage=storage,
        http=http,
        auth=auth,
        redis=redis,
        validation=validation,
        extra=extra,
        source=source,
    )
    root.finish()
    if http.secret_generated:
        warnings.append(
            "http.secret: not set; generated a random secret, so upload sessions cannot "
            "span several registry instances (set http.secret to share them)"
        )
    return replace(config, warnings=tuple(warnings))


def _version(root: Section, has_file: bool) -> str:
    value = root.raw("version")
    if value is None:
        if has_file:
            root.warnings.append("version: missing; assuming 0.1")
        return "0.1"
    text = str(value).strip()
    if text != "0.1":
        raise ConfigError(
            f"version: dockyard reads configuration version 0.1 (the reference registry's "
            f"only one), got {show_value(value)}"
        )
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
    config = read(LogConfig, section, level=level)
    section.finish()
    return config


def _storage(root: Section, cwd: Path, redis: RedisConfig | None, has_file: bool) -> StorageConfig:
    if has_file and not root.has("storage"):
        raise ConfigError(
            "storage: missing; configure a driver (filesystem, inmemory or s3), as the "
            "reference registry requires"
        )
    section = root.section("storage")
    drivers = [k for k in section.data if k not in STORAGE_OPTIONS]
    params: DriverParams
    if not drivers:
        if has_file:
            raise ConfigError(
                f"storage: no driver configured (dockyard supports {', '.join(STORAGE_DRIVERS)})"
            )
        driver, params = "filesystem", FilesystemParams(rootdirectory=str(cwd / DEFAULT_DATA_DIR))
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
    cache_section = section.section("cache")
    cache = _cache(cache_section, redis)
    config = read(StorageConfig, section, driver=driver, params=params, cache=cache)
    if config.uploadpurging.enabled and config.uploadpurging.interval <= timedelta(0):
        raise ConfigError("storage.maintenance.uploadpurging.interval: must be positive")
    if config.gc.enabled and config.gc.interval <= timedelta(0):
        raise ConfigError("storage.maintenance.gc.interval: must be positive")
    if config.scrub.enabled and config.scrub.interval <= timedelta(0):
        raise ConfigError("storage.maintenance.scrub.interval: must be positive")
    section.finish()
    return config


def _driver_params(section: Section, cwd: Path) -> DriverParams:
    name = section.path.rsplit(".", 1)[-1]
    params = read(DRIVER_PARAMS[name], section)
    section.finish()
    if isinstance(params, FilesystemParams):
        root = cwd / Path(params.rootdirectory).expanduser()
        params = replace(params, rootdirectory=str(root))
    elif isinstance(params, S3Params) and not params.bucket:
        raise ConfigError(f"{section.key('bucket')}: required for the s3 driver")
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
    config = read(CacheConfig, section, blobdescriptor=kind)
    section.finish()
    return config


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
    debug = section.raw("debug")
    if debug:
        warnings.append("http.debug: the debug server is not supported; ignored")
    config = read(
        HTTPConfig,
        section,
        net=net,
        addr=addr,
        prefix=prefix,
        host=host,
        secret=secret,
        secret_generated=generated,
        tls=tls,
        headers=headers,
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
    config = read(
        TLSConfig,
        section,
        certificate=existing("http.tls.certificate", certificate),
        key=existing("http.tls.key", key),
        clientcas=clientcas,
    )
    section.finish()
    _check_tls_files(config)
    if config.minimumtls in ("tls1.0", "tls1.1"):
        section.warnings.append(
            f"http.tls.minimumtls: {config.minimumtls} is not offered; using tls1.2"
        )
    return config


def _check_tls_files(tls: TLSConfig) -> None:
    """The certificate, key and client CAs load, as the server will load them."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(tls.certificate, tls.key, password=lambda: b"")
    except (ssl.SSLError, OSError) as error:
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=tls.certificate)
        except (ssl.SSLError, OSError):
            raise ConfigError(
                "http.tls.certificate: not a PEM certificate that can be loaded"
            ) from None
        raise ConfigError(
            f"http.tls.key: not an unencrypted PEM private key of http.tls.certificate "
            f"({_ssl_reason(error)})"
        ) from None
    for i, ca in enumerate(tls.clientcas):
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=ca)
        except (ssl.SSLError, OSError):
            raise ConfigError(
                f"http.tls.clientcas[{i}]: not a PEM certificate that can be loaded"
            ) from None


def _ssl_reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None) or getattr(error, "strerror", None)
    return str(reason or type(error).__name__).replace("_", " ").lower()


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
    """Each scheme's options, their types checked and unknown keys reported; the auth
    package builds the authorizer from what remains."""
    auth: dict[str, dict[str, Any]] = {}
    for name in list(section.data):
        options = section.raw(str(name))
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise ConfigError(f"auth.{name}: expected a mapping, got {show_value(options)}")
        scheme = str(name).lower()
        declaration = AUTH_SCHEMES.get(scheme)
        if declaration is not None:
            child = Section(options, f"auth.{scheme}", section.warnings)
            read(declaration, child)
            passthrough = [
                key_of(item)
                for item in fields(declaration)
                if getattr(declared(item), "custom", False)
            ]
            for key in passthrough:
                child.raw(key)
            child.finish()
            options = {k: v for k, v in options.items() if k in child.used}
            _check_htpasswd_file(options, scheme)
        auth[scheme] = plain(options)
    return auth


def _redis(section: Section) -> RedisConfig:
    addr = section.text("addr")
    if not addr:
        addrs = section.strings("addrs")
        if not addrs:
            raise ConfigError("redis.addr: required when the redis section is present")
        addr = addrs[0]
    parse_addr(addr, "redis.addr")
    config = read(RedisConfig, section, addr=addr)
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


def _check_htpasswd_file(options: dict[str, Any], scheme: str) -> None:
    """An htpasswd path that names a folder is refused, saying why.

    The reference registry starts with one (Debian's packaged configuration points
    ``auth.htpasswd.path`` at ``/etc/docker/registry``) and then refuses every login;
    dockyard stops at start-up instead, with the key named.
    """
    name = "path" if scheme == "htpasswd" else "htpasswd" if scheme == "tokenserver" else None
    value = options.get(name) if name else None
    if isinstance(value, str) and value and Path(value).expanduser().is_dir():
        raise ConfigError(
            f"auth.{scheme}.{name}: {value} is a folder, not an htpasswd file (the reference "
            "registry starts with it but then refuses every login; Debian's packaged "
            "config.yml has this); point it at a file made with `htpasswd -B`"
        )
