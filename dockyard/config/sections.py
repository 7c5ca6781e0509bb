"""Validation: turning the configuration tree into the typed model, naming every bad key."""

from __future__ import annotations

import ipaddress
import re
import secrets
import ssl
from dataclasses import fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from dockyard.config.declare import key_of, read
from dockyard.config.environment import EnvText, plain
from dockyard.config.model import (
    AUTH_SCHEMES,
    DEFAULT_ADDR,
    DEFAULT_DATA_DIR,
    DRIVER_PARAMS,
    LOG_LEVELS,
    REPOSITORY_ACTIONS,
    STORAGE_DRIVERS,
    STORAGE_OPTIONS,
    TOKEN_SIGNING_ALGORITHMS,
    UNSUPPORTED_SECTIONS,
    AccessRuleConfig,
    AuthConfig,
    AuthRateLimitConfig,
    CacheConfig,
    Config,
    ConfigError,
    DebugConfig,
    DriverParams,
    EndpointConfig,
    FilesystemParams,
    HealthCheckConfig,
    HealthConfig,
    HtpasswdAuthConfig,
    HTTPConfig,
    LogConfig,
    NotificationsConfig,
    RedisConfig,
    S3Params,
    StorageConfig,
    TLSConfig,
    TokenAuthConfig,
    TokenServerAuthConfig,
    UIConfig,
    ValidationConfig,
)
from dockyard.config.values import duration, parse_addr, show_value
from dockyard.proxy.settings import read_proxy
from dockyard.sync.settings import read_sync


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

    def integer(
        self, name: str, default: int | None, minimum: int = 0, maximum: int | None = None
    ) -> int | None:
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
        if maximum is not None and number > maximum:
            raise ConfigError(f"{self.key(name)}: must be at most {maximum}, got {number}")
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
        """A list of strings; one string is a list of one. From the environment, a YAML
        flow list (``[a.pem, b.pem]``) is a list, as the reference reads it."""
        value = self.raw(name)
        if value is None:
            return ()
        if isinstance(value, EnvText) and isinstance(listed := plain(value), list):
            value = listed
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
            return tuple(str(v) for v in value)
        raise ConfigError(
            f"{self.key(name)}: expected a list of strings, got {show_value(value, name)}"
        )

    def names(self, name: str) -> tuple[str, ...]:
        """A list of names (users, algorithms, networks): ``strings``, where an entry may
        also be several names separated by commas (``REGISTRY_…=ES256,RS256``)."""
        return tuple(
            part.strip()
            for value in self.strings(name)
            for part in value.split(",")
            if part.strip()
        )

    def missing(self, name: str) -> ConfigError:
        """The error for a required key that is not set."""
        return ConfigError(f"{self.key(name)}: required")

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
    auth = _auth(root.section("auth"), cwd)
    validation = _validation(root.section("validation"))
    health = _health(root.section("health"), redis)
    notifications = _notifications(root.section("notifications"))
    ui = _ui(root.section("ui"))
    proxy = read_proxy(root.section("proxy")) if root.raw("proxy") else None
    sync = read_sync(root.section("sync")) if root.raw("sync") else None
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
        health=health,
        notifications=notifications,
        ui=ui,
        proxy=proxy,
        sync=sync,
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
    if name == "s3":
        return _s3_params(section)
    params = read(DRIVER_PARAMS[name], section)
    section.finish()
    if isinstance(params, FilesystemParams):
        root = cwd / Path(params.rootdirectory).expanduser()
        params = replace(params, rootdirectory=str(root))
    return params


def _s3_params(section: Section) -> S3Params:
    """``storage.s3``, with the reference's spellings of "none" and empty values unset."""
    storageclass = section.text("storageclass") or "STANDARD"
    objectacl = section.text("objectacl") or "none"
    params = read(
        S3Params,
        section,
        rootdirectory=(section.text("rootdirectory") or "").strip("/"),
        storageclass=None if storageclass.upper() == "NONE" else storageclass,
        objectacl=None if objectacl.lower() == "none" else objectacl,
    )
    section.finish()
    empty: dict[str, Any] = {
        item.name: None
        for item in fields(params)
        if getattr(params, item.name) == "" and item.default is None
    }
    return replace(params, **empty)


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
    bind = parse_addr(addr if net == "tcp" else DEFAULT_ADDR, "http.addr")
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
    debug = _debug(section.section("debug")) if section.has("debug") else None
    config = read(
        HTTPConfig,
        section,
        net=net,
        addr=addr,
        prefix=prefix,
        host=host,
        secret=secret,
        secret_generated=generated,
        bind=bind,
        tls=tls,
        headers=headers,
        debug=debug,
    )
    section.finish()
    if debug is not None and debug.tracemalloc_enabled and config.workers not in (None, 1):
        raise ConfigError(
            "http.debug.tracemalloc: traces the process the debug listener runs in, "
            "which serves requests only with http.workers: 1"
        )
    return config


def _debug(section: Section) -> DebugConfig | None:
    addr = section.text("addr")
    prometheus = section.section("prometheus")
    enabled = prometheus.boolean("enabled", False)
    path = prometheus.text("path", "/metrics") or "/metrics"
    prometheus.finish()
    tracemalloc = section.section("tracemalloc")
    tracing = tracemalloc.boolean("enabled", False)
    frames = tracemalloc.integer("frames", 1, minimum=1) or 1
    tracemalloc.finish()
    section.finish()
    if not addr:
        if enabled:
            raise ConfigError("http.debug.addr: required to serve http.debug.prometheus")
        if tracing:
            raise ConfigError("http.debug.addr: required to serve http.debug.tracemalloc")
        return None
    parse_addr(addr, "http.debug.addr")
    if not path.startswith("/") or not re.fullmatch(r"[A-Za-z0-9._~/-]+", path):
        raise ConfigError(f"http.debug.prometheus.path: not a URL path, got {show_value(path)}")
    return DebugConfig(
        addr=addr,
        prometheus_enabled=enabled,
        prometheus_path=path,
        tracemalloc_enabled=tracing,
        tracemalloc_frames=frames,
    )


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
            raise ConfigError(f"{section.key(str(name))}: not a valid header name")
        values = section.strings(str(name))
        for value in values:
            if "\n" in value or "\r" in value:
                raise ConfigError(f"{section.key(str(name))}: header values cannot span lines")
        headers[str(name)] = values
    return headers


def _auth(section: Section, cwd: Path) -> AuthConfig:
    """``auth``: one scheme's section, typed and checked, and the rate limit.

    A section named after no scheme is an error rather than a warning: ignoring a
    misspelt ``htpasswd`` would serve without access control.
    """
    for name in section.data:
        if name != "ratelimit" and str(name).lower() not in AUTH_SCHEMES:
            raise ConfigError(
                f"{section.key(str(name))}: unsupported auth scheme "
                "(dockyard supports htpasswd and token, with tokenserver)"
            )
    schemes = {str(name).lower(): str(name) for name in section.data if name != "ratelimit"}
    if "htpasswd" in schemes and ("token" in schemes or "tokenserver" in schemes):
        raise ConfigError("auth: configure either htpasswd or token, not both")
    if "tokenserver" in schemes and "token" not in schemes:
        raise ConfigError("auth.token: required by auth.tokenserver (realm, service, issuer)")
    htpasswd = token = tokenserver = None
    if "htpasswd" in schemes:
        htpasswd = _htpasswd(section.section(schemes["htpasswd"]), cwd)
    if "token" in schemes:
        token = _token(section.section(schemes["token"]), cwd)
    if "tokenserver" in schemes and token is not None:
        tokenserver = _tokenserver(section.section(schemes["tokenserver"]), token, cwd)
    ratelimit = _auth_ratelimit(section.section("ratelimit"))
    section.finish()
    return AuthConfig(htpasswd=htpasswd, token=token, tokenserver=tokenserver, ratelimit=ratelimit)


def _file(section: Section, name: str, cwd: Path) -> str | None:
    """A file path option, absolute (relative to the working directory as given)."""
    value = section.text(name)
    return str(cwd / Path(value).expanduser()) if value else None


def _htpasswd(section: Section, cwd: Path) -> HtpasswdAuthConfig:
    config = read(HtpasswdAuthConfig, section)
    section.finish()
    path = _file(section, "path", cwd) or config.path
    _check_htpasswd_file(section.key("path"), path)
    return replace(config, path=path)


def _token(section: Section, cwd: Path) -> TokenAuthConfig:
    algorithms = section.names("signingalgorithms")
    for name in algorithms:
        if name not in TOKEN_SIGNING_ALGORITHMS:
            raise ConfigError(
                f"{section.key('signingalgorithms')}: unsupported signing algorithm "
                f"{show_value(name)} (supported: {', '.join(TOKEN_SIGNING_ALGORITHMS)})"
            )
    config = read(
        TokenAuthConfig, section, signingalgorithms=algorithms or TOKEN_SIGNING_ALGORITHMS
    )
    section.finish()
    if config.autoredirect:
        raise ConfigError(f"{section.key('autoredirect')}: not supported; set realm instead")
    if config.leeway < timedelta(0):
        raise ConfigError(f"{section.key('leeway')}: must not be negative")
    return replace(
        config,
        rootcertbundle=_file(section, "rootcertbundle", cwd),
        jwks=_file(section, "jwks", cwd),
    )


def _tokenserver(section: Section, token: TokenAuthConfig, cwd: Path) -> TokenServerAuthConfig:
    path = section.text("path") or urlsplit(token.realm).path or "/auth/token"
    groups = _groups(section.section("groups"))
    rules = _rules(section, groups)
    config = read(TokenServerAuthConfig, section, path=path, groups=groups, rules=rules)
    section.finish()
    for name in ("path", "jwkspath"):
        value = getattr(config, name)
        if not value.startswith("/") or value == "/v2" or value.startswith("/v2/"):
            raise ConfigError(
                f"{section.key(name)}: must be an absolute path outside /v2/, "
                f"got {show_value(value)}"
            )
    if config.expiration < timedelta(seconds=60):
        raise ConfigError(f"{section.key('expiration')}: must be at least 60s (clients require it)")
    if config.refreshexpiration <= timedelta(0):
        raise ConfigError(f"{section.key('refreshexpiration')}: must be positive")
    users = _file(section, "htpasswd", cwd)
    if users is not None:
        _check_htpasswd_file(section.key("htpasswd"), users)
    return replace(config, htpasswd=users, key=_file(section, "key", cwd))


def _groups(section: Section) -> dict[str, tuple[str, ...]]:
    """``auth.tokenserver.groups``: group name → its users."""
    groups = {str(name): section.names(str(name)) for name in list(section.data)}
    section.finish()
    return groups


#: The keys of an access rule, as ``AccessRuleConfig`` declares them.
_RULE_KEYS: Final = frozenset(key_of(item) for item in fields(AccessRuleConfig))


def _rules(section: Section, groups: dict[str, tuple[str, ...]]) -> tuple[AccessRuleConfig, ...]:
    """``auth.tokenserver.rules``, each checked; an unknown key in a rule is an error, not a
    warning, because a rule read without it would grant something other than written."""
    entries = section.raw("rules")
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise ConfigError(f"{section.key('rules')}: expected a list of rules")
    rules = []
    for i, entry in enumerate(entries):
        item = Section(entry, f"{section.key('rules')}[{i}]", section.warnings)
        for name in item.data:
            if name not in _RULE_KEYS:
                raise ConfigError(
                    f"{item.key(str(name))}: unknown key of an access rule "
                    f"(known: {', '.join(sorted(_RULE_KEYS))})"
                )
        if item.has("repositories") == item.has("registry"):
            raise ConfigError(f"{item.path}: needs exactly one of repositories or registry")
        kind = "repositories" if item.has("repositories") else "registry"
        patterns = item.names(kind)
        if not patterns:
            raise ConfigError(f"{item.key(kind)}: must name at least one pattern")
        rule = read(
            AccessRuleConfig,
            item,
            repositories=patterns if kind == "repositories" else (),
            registry=patterns if kind == "registry" else (),
            users=item.names("users"),
            groups=item.names("groups"),
            actions=item.names("actions"),
        )
        item.finish()
        unknown = sorted(set(rule.actions) - set(REPOSITORY_ACTIONS))
        if kind == "repositories" and unknown:
            raise ConfigError(
                f"{item.key('actions')}: unknown action(s) {', '.join(unknown)} "
                f"(pull, push, delete, *)"
            )
        for group in sorted(set(rule.groups)):
            if group not in groups:
                raise ConfigError(f"{item.key('groups')}: group {group!r} is not defined")
        rules.append(rule)
    return tuple(rules)


def _auth_ratelimit(section: Section) -> AuthRateLimitConfig:
    networks = []
    for i, network in enumerate(section.names("trustedproxies")):
        try:
            networks.append(ipaddress.ip_network(network, strict=False))
        except ValueError:
            raise ConfigError(
                f"auth.ratelimit.trustedproxies[{i}]: not an IP address or network"
            ) from None
    config = read(AuthRateLimitConfig, section, trustedproxies=tuple(networks))
    section.finish()
    for name in ("window", "lockout"):
        if config.attempts > 0 and getattr(config, name) <= timedelta(0):
            raise ConfigError(f"{section.key(name)}: must be positive")
    return config


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
    platforms, platformlist = _indexes(manifests.section("indexes"))
    manifests.finish()
    section.finish()
    return ValidationConfig(
        disabled=disabled,
        manifest_urls_allow=allow,
        manifest_urls_deny=deny,
        index_platforms=platforms,
        index_platformlist=platformlist,
    )


def _check_htpasswd_file(key: str, path: str) -> None:
    """An htpasswd path that names a folder is refused, saying why.

    The reference registry starts with one (Debian's packaged configuration points
    ``auth.htpasswd.path`` at ``/etc/docker/registry``) and then refuses every login;
    dockyard stops at start-up instead, with the key named.
    """
    if Path(path).is_dir():
        raise ConfigError(
            f"{key}: {path} is a folder, not an htpasswd file (the reference "
            "registry starts with it but then refuses every login; Debian's packaged "
            "config.yml has this); point it at a file made with `htpasswd -B`"
        )


def _indexes(section: Section) -> tuple[str, tuple[tuple[str, str], ...]]:
    """``validation.manifests.indexes``: ``platforms`` (all, none, list) and, for ``list``,
    ``platformlist`` entries of ``architecture`` and ``os``."""
    platforms = section.choice("platforms", "all", ("all", "none", "list"))
    entries = section.raw("platformlist") or []
    if not isinstance(entries, list):
        raise ConfigError(f"{section.key('platformlist')}: expected a list of platforms")
    platformlist: list[tuple[str, str]] = []
    for i, entry in enumerate(entries):
        where = f"{section.key('platformlist')}[{i}]"
        item = Section(entry, where, section.warnings)
        architecture, os_name = item.text("architecture"), item.text("os")
        if not architecture or not os_name:
            raise ConfigError(f"{where}: needs both architecture and os")
        item.finish()
        platformlist.append((architecture, os_name))
    if platforms == "list" and not platformlist:
        raise ConfigError(f"{section.key('platformlist')}: required when platforms is list")
    section.finish()
    return platforms, tuple(platformlist)


def _check_timing(section: Section, kind: str, target: str = "") -> HealthCheckConfig:
    defaults = HealthCheckConfig(kind)
    interval = section.duration("interval", defaults.interval) or defaults.interval
    if interval <= timedelta(0):
        raise ConfigError(f"{section.key('interval')}: must be positive")
    return HealthCheckConfig(
        kind=kind,
        target=target,
        interval=interval,
        threshold=section.integer("threshold", 1, minimum=1) or 1,
        timeout=section.duration("timeout", defaults.timeout) or defaults.timeout,
    )


def _health(section: Section, redis: RedisConfig | None) -> HealthConfig:
    """``health``: dockyard checks storage by default (the reference only when enabled)."""
    checks: list[HealthCheckConfig] = []
    storage = section.section("storagedriver")
    storage_check = _check_timing(storage, "storagedriver")
    storage_enabled = storage.boolean("enabled", True)
    if storage_enabled:
        checks.append(storage_check)
    storage.finish()
    if redis is not None:
        checks.append(HealthCheckConfig("redis"))
    for kind, target_key in (("file", "file"), ("http", "uri"), ("tcp", "addr")):
        entries = section.raw(kind) or []
        if not isinstance(entries, list):
            raise ConfigError(f"health.{kind}: expected a list, got {show_value(entries)}")
        for i, entry in enumerate(entries):
            item = Section(entry, f"health.{kind}[{i}]", section.warnings)
            target = item.text(target_key)
            if not target:
                raise ConfigError(f"{item.key(target_key)}: required")
            if kind == "tcp":
                parse_addr(target, item.key(target_key))
            if kind == "http" and urlsplit(target).scheme not in ("http", "https"):
                raise ConfigError(f"{item.key(target_key)}: expected an http(s) URL")
            check = _check_timing(item, kind, target)
            if kind == "http":
                statuscode = item.integer("statuscode", 200, minimum=100) or 200
                headers = _headers(item.section("headers"))
                check = HealthCheckConfig(
                    kind,
                    target,
                    check.interval,
                    check.threshold,
                    check.timeout,
                    statuscode,
                    headers,
                )
            item.finish()
            checks.append(check)
    section.finish()

    def targets(kind: str) -> tuple[str, ...]:
        return tuple(check.target for check in checks if check.kind == kind)

    return HealthConfig(
        checks=tuple(checks),
        storagedriver_enabled=storage_enabled,
        storagedriver_interval=storage_check.interval,
        storagedriver_threshold=storage_check.threshold,
        file=targets("file"),
        http=targets("http"),
        tcp=targets("tcp"),
    )


def _notifications(section: Section) -> NotificationsConfig:
    entries = section.raw("endpoints") or []
    if not isinstance(entries, list):
        raise ConfigError(f"notifications.endpoints: expected a list, got {show_value(entries)}")
    endpoints = tuple(
        _endpoint(Section(entry, f"notifications.endpoints[{i}]", section.warnings))
        for i, entry in enumerate(entries)
    )
    names = [e.name for e in endpoints]
    if len(set(names)) != len(names):
        raise ConfigError("notifications.endpoints: endpoint names must be unique")
    events = section.section("events")
    includereferences = events.boolean("includereferences", False)
    events.finish()
    queue = section.section("queue")
    directory = queue.text("directory")
    queue.finish()
    section.finish()
    return NotificationsConfig(
        endpoints=endpoints, includereferences=includereferences, queue_directory=directory
    )


def _endpoint(section: Section) -> EndpointConfig:
    defaults = EndpointConfig("", "")
    name = section.text("name")
    if not name or not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise ConfigError(f"{section.key('name')}: required, letters, digits, '.', '_', '-'")
    url = section.text("url") or ""
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise ConfigError(f"{section.key('url')}: expected an http(s) URL")
    ignore = section.section("ignore")
    ignored_types = (*section.strings("ignoredmediatypes"), *ignore.strings("mediatypes"))
    ignored_actions = ignore.strings("actions")
    ignore.finish()
    signing = section.section("signing")
    secret = signing.text("secret")
    signing.finish()
    endpoint = EndpointConfig(
        name=name,
        url=url,
        headers=_headers(section.section("headers")),
        timeout=section.duration("timeout", defaults.timeout) or defaults.timeout,
        threshold=section.integer("threshold", defaults.threshold, minimum=1) or 1,
        backoff=section.duration("backoff", defaults.backoff) or defaults.backoff,
        maxretries=section.integer("maxretries", 0) or 0,
        ignored_mediatypes=ignored_types,
        ignored_actions=tuple(a.lower() for a in ignored_actions),
        disabled=section.boolean("disabled", False),
        format=section.choice("format", "envelope", ("envelope", "cloudevents")),
        signing_secret=secret or None,
    )
    section.finish()
    return endpoint


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
