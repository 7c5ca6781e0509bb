"""The configuration model: typed sections of the reference registry's ``config.yml``."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

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
STORAGE_OPTIONS: Final = ("delete", "redirect", "cache", "maintenance")
LOG_LEVELS: Final = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
    "panic": logging.CRITICAL,
}
TLS_VERSIONS: Final = ("tls1.0", "tls1.1", "tls1.2", "tls1.3")
#: Sections the reference knows that dockyard accepts but does not act on.
UNSUPPORTED_SECTIONS: Final = {
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
        return LOG_LEVELS[self.level]


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
        from dockyard.config.values import parse_addr  # values imports this module

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
class UIConfig:
    """``ui``: dockyard's web interface, served by the registry itself."""

    enabled: bool = True
    #: Where it is served (``/ui``); ``/`` redirects there while it is enabled.
    path: str = "/ui"


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
    ui: UIConfig = field(default_factory=UIConfig)
    #: Sections kept as given (``notifications``, ``proxy``, ``health`` …), unsupported.
    extra: dict[str, Any] = field(default_factory=dict)
    #: What was ignored or defaulted while loading, for the operator.
    warnings: tuple[str, ...] = ()
    #: The file the configuration came from, if any.
    source: str | None = None
