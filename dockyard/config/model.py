"""The configuration model: typed sections of the reference registry's ``config.yml``.

Every field that a key sets is declared with ``option`` (its key, meaning and checks),
once: ``dockyard.config.sections`` reads the file by these declarations and
``docs/configuration.md`` is generated from them. To add a key, add a field to its
section's dataclass; to add a section, add its dataclass and one ``option`` field on
``Config``: it is then read, validated, warned about and documented like the others
(``custom=True`` only where a key needs reading by hand in ``sections``).
"""

# ``option`` returns a ``dataclasses.field``: a declaration, not a shared default.
# ruff: noqa: RUF009

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import Any, Final

from dockyard.config.declare import declared, option
from dockyard.errors import DockyardError
from dockyard.proxy.settings import ProxyConfig
from dockyard.sync.settings import SyncConfig

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
    "middleware": "middleware is not supported; section ignored",
    "reporting": "error reporting services are not supported; section ignored",
    "compatibility": "compatibility options are not needed; section ignored",
}

#: Older spellings still read, and what replaced them.
DEPRECATED_KEYS: Final = {
    "loglevel": "log.level",
    "storage.cache.layerinfo": "storage.cache.blobdescriptor",
    "validation.enabled": "validation.disabled (inverted)",
    "redis.addrs": "redis.addr (the first address is used)",
}


class ConfigError(DockyardError):
    """The configuration is invalid; the message names the offending key."""


# --- the model ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogConfig:
    """``log``: verbosity, format and the access log."""

    level: str = option(
        "Least severe events logged: error, warn, info, debug (trace, fatal and panic "
        "as the reference spells them).",
        default="info",
        choices=tuple(LOG_LEVELS),
        custom=True,
    )
    formatter: str = option(
        "text, or json for one JSON object per line (logstash is taken as json).",
        default="text",
        choices=("text", "json", "logstash"),
    )
    accesslog_disabled: bool = option(
        "Turn off the access log (one line per request on stdout).",
        default=False,
        key="accesslog.disabled",
    )
    fields: dict[str, str] = option(
        "Fields added to every log line (key=value in text, members in JSON).",
        default_factory=dict,
    )
    hooks: tuple[str, ...] = option(
        "The reference's log hooks (mail alerts).", default=(), inert=True
    )
    reportcaller: bool = option("The reference's caller reporting.", default=False, inert=True)

    @property
    def python_level(self) -> int:
        """The ``logging`` level this configuration's ``level`` stands for."""
        return LOG_LEVELS[self.level]


@dataclass(frozen=True, slots=True)
class UploadPurgingConfig:
    """``storage.maintenance.uploadpurging``: removing abandoned upload sessions."""

    enabled: bool = option("Purge abandoned upload sessions periodically.", default=True)
    age: timedelta = option(
        "Remove sessions started longer ago than this.", default=timedelta(hours=168), shown="168h"
    )
    interval: timedelta = option("How often to purge.", default=timedelta(hours=24), shown="24h")
    dryrun: bool = option("Log what would be purged, remove nothing.", default=False)


@dataclass(frozen=True, slots=True)
class GcConfig:
    """``storage.maintenance.gc``: online garbage collection inside the server."""

    enabled: bool = option(
        "Collect garbage periodically while serving (one instance at a time).", default=False
    )
    interval: timedelta = option("How often to collect.", default=timedelta(hours=24), shown="24h")
    grace: timedelta = option(
        "Keep unreferenced blobs uploaded or linked this recently: the longest a client may "
        "take between uploading a layer and pushing the manifest that names it.",
        default=timedelta(hours=1),
        shown="1h",
    )
    deleteuntagged: bool = option(
        "Also delete manifests no tag reaches (with their referrers).", default=False
    )
    keeporphanreferrers: bool = option(
        "With deleteuntagged, keep referrers whose subject is gone.", default=False
    )
    lease: timedelta = option(
        "How long a collector's lease and its marker last unrenewed (it renews them every "
        "quarter of this): a killed collector's are taken over after it.",
        default=timedelta(seconds=60),
        shown="60s",
    )


@dataclass(frozen=True, slots=True)
class ScrubConfig:
    """``storage.maintenance.scrub``: checking integrity periodically inside the server."""

    enabled: bool = option("Scrub periodically while serving (logs what it finds).", default=False)
    interval: timedelta = option("How often to scrub.", default=timedelta(days=7), shown="168h")
    check: str = option(
        "sizes (reads no content) or digests (hashes every blob).",
        default="sizes",
        choices=("sizes", "digests"),
    )
    rate: int = option("Hash at most this many MB per second (0: unlimited).", default=50)


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """``storage.cache``: the blob descriptor cache (``inmemory``, ``redis`` or none)."""

    blobdescriptor: str | None = option(
        "Cache blob descriptors: inmemory (per process) or redis (shared; needs the "
        "redis section). layerinfo is the deprecated spelling.",
        default=None,
        choices=("inmemory", "redis"),
        custom=True,
    )
    blobdescriptorsize: int = option("Entries of the inmemory cache.", default=10000, minimum=1)
    blobdescriptorbytes: int = option(
        "Memory the inmemory cache may hold, in bytes (each descriptor charged what it "
        "holds; annotations make some large): least recently used dropped first.",
        default=8 << 20,
        minimum=4096,
    )


@dataclass(frozen=True, slots=True)
class FilesystemParams:
    """``storage.filesystem``: content in files below a local directory."""

    rootdirectory: str = option(
        "The directory holding the content (the reference's layout), relative to the "
        "working directory if not absolute.",
        default=REFERENCE_FILESYSTEM_ROOT,
    )
    maxthreads: int | None = option(
        "The reference's limit on blocking threads.", default=None, inert=True
    )


@dataclass(frozen=True, slots=True)
class InMemoryParams:
    """``storage.inmemory``: content in this process's memory, gone when it stops."""


MiB: Final = 1 << 20
GiB: Final = 1 << 30
#: S3's smallest part (all but the last of an upload) and largest part or single copy.
S3_MIN_PART_SIZE: Final = 5 * MiB
S3_MAX_PART_SIZE: Final = 5 * GiB


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Params:
    """``storage.s3``: content as objects in one bucket of AWS S3 or a compatible store."""

    bucket: str = option("The bucket's name (required).", required=True)
    region: str = option("The bucket's region.", default="us-east-1")
    regionendpoint: str | None = option(
        "The endpoint of an S3-compatible store (http://host:port); unset for AWS.",
        default=None,
    )
    accesskey: str | None = option(
        "Access key id; unset for the SDK's chain.", default=None, secret=True
    )
    secretkey: str | None = option("Secret access key.", default=None, secret=True)
    sessiontoken: str | None = option(
        "Session token of temporary credentials.", default=None, secret=True
    )
    rootdirectory: str = option(
        "A key prefix below which content is kept.", default="", custom=True
    )
    forcepathstyle: bool = option(
        "Address the bucket in the path, not the host name (most S3-compatible stores).",
        default=False,
    )
    secure: bool = option("Use https to the endpoint.", default=True)
    skipverify: bool = option("Do not verify the endpoint's TLS certificate.", default=False)
    chunksize: int = option(
        "Bytes per multipart part (5 MiB to 5 GiB).",
        default=10 * MiB,
        minimum=S3_MIN_PART_SIZE,
        maximum=S3_MAX_PART_SIZE,
    )
    multipartcopythresholdsize: int = option(
        "Objects from this size on are copied in parts.",
        default=32 * MiB,
        maximum=S3_MAX_PART_SIZE,
    )
    multipartcopychunksize: int = option(
        "Bytes per part of a multipart copy.",
        default=32 * MiB,
        minimum=S3_MIN_PART_SIZE,
        maximum=S3_MAX_PART_SIZE,
    )
    multipartcopymaxconcurrency: int = option(
        "Parts copied at once.", default=8, minimum=1, maximum=1000
    )
    storageclass: str | None = option(
        "Storage class of new objects; NONE sends none.",
        default="STANDARD",
        custom=True,
    )
    encrypt: bool = option(
        "Server-side encryption of new objects (with keyid: aws:kms).", default=False
    )
    keyid: str | None = option("KMS key id for encryption.", default=None)
    objectacl: str | None = option(
        "Canned ACL of new objects; unset or none sends none.", default=None, custom=True
    )
    useragent: str | None = option("Added to the client's User-Agent.", default=None)
    usedualstack: bool = option("Use the dual-stack endpoint.", default=False)
    accelerate: bool = option("Use S3 Transfer Acceleration.", default=False)
    maxconnections: int = option(
        "dockyard: connections in the client's pool.", default=64, minimum=1, maximum=10_000
    )
    list_page_size: int = option(
        "dockyard: keys per listing request (at most 1000).", default=1000, minimum=1, maximum=1000
    )
    v4auth: bool | None = option("Requests are always signed v4.", default=None, inert=True)
    loglevel: str | None = option("The reference's SDK log level.", default=None, inert=True)
    multipartcombinesmallpart: bool | None = option(
        "The reference's small-part combining.", default=None, inert=True
    )

    def endpoint_url(self) -> str | None:
        """The endpoint with a scheme, or None for AWS's own endpoints."""
        if not self.regionendpoint:
            return None
        if "://" in self.regionendpoint:
            return self.regionendpoint
        return ("https://" if self.secure else "http://") + self.regionendpoint


DriverParams = FilesystemParams | InMemoryParams | S3Params
#: Every storage driver's name and its parameters.
DRIVER_PARAMS: Final[dict[str, type[DriverParams]]] = {
    "filesystem": FilesystemParams,
    "inmemory": InMemoryParams,
    "s3": S3Params,
}


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """``storage``: the driver with its parameters, and the storage options."""

    driver: str
    params: DriverParams
    delete_enabled: bool = option(
        "Allow DELETE of manifests, tags and blobs.", default=False, key="delete.enabled"
    )
    redirect_disabled: bool = option(
        "Never redirect blob downloads to the storage (S3 presigned URLs).",
        default=False,
        key="redirect.disable",
    )
    cache: CacheConfig = option("", default_factory=CacheConfig)
    uploadpurging: UploadPurgingConfig = option(
        "", default_factory=UploadPurgingConfig, key="maintenance.uploadpurging"
    )
    gc: GcConfig = option("", default_factory=GcConfig, key="maintenance.gc")
    scrub: ScrubConfig = option("", default_factory=ScrubConfig, key="maintenance.scrub")
    readonly: bool = option(
        "Refuse every write (pushes, deletes); collection does not need it.",
        default=False,
        key="maintenance.readonly.enabled",
    )

    @property
    def parameters(self) -> dict[str, Any]:
        """The driver's parameters that are set, by key (for showing and naming storage;
        the driver itself is built from ``params``)."""
        return {
            item.name: value
            for item in fields(self.params)
            if (value := getattr(self.params, item.name)) is not None
            and not getattr(declared(item), "inert", False)
        }


@dataclass(frozen=True, slots=True)
class TLSConfig:
    """``http.tls``: the server certificate, and client CAs for mutual TLS."""

    certificate: str = option("The server's certificate chain (PEM); required.", custom=True)
    key: str = option("The certificate's private key (PEM); required.", custom=True)
    clientcas: tuple[str, ...] = option(
        "CA certificates (PEM) that client certificates must chain to: mutual TLS.",
        default=(),
        custom=True,
    )
    minimumtls: str = option(
        "Oldest TLS version accepted: tls1.2 or tls1.3 (tls1.0 and tls1.1 mean tls1.2).",
        default="tls1.2",
        choices=TLS_VERSIONS,
    )
    letsencrypt: dict[str, str] = option(
        "The reference's ACME client; use a certificate file.",
        default_factory=dict,
        inert=True,
    )
    ciphersuites: tuple[str, ...] = option(
        "The reference's cipher list; TLS 1.2+ suites are chosen by the TLS library.",
        default=(),
        inert=True,
    )


@dataclass(frozen=True, slots=True)
class DebugConfig:
    """``http.debug``: the debug listener (health, vars, probes, Prometheus metrics,
    allocation tracing)."""

    addr: str = option("host:port of the debug listener.", custom=True)
    prometheus_enabled: bool = option(
        "Serve Prometheus metrics.", default=False, key="prometheus.enabled", custom=True
    )
    prometheus_path: str = option(
        "Where the metrics are served.", default="/metrics", key="prometheus.path", custom=True
    )
    tracemalloc_enabled: bool = option(
        "Trace Python allocations (tracemalloc) in the serving process and report the "
        "top allocation sites, and their growth since the last report, at "
        "/debug/tracemalloc. Costs speed and memory: for finding leaks, not for "
        "everyday serving.",
        default=False,
        key="tracemalloc.enabled",
        custom=True,
    )
    tracemalloc_frames: int = option(
        "Stack frames kept per traced allocation (more frames tell callers apart, and "
        "cost more memory).",
        default=1,
        minimum=1,
        key="tracemalloc.frames",
        custom=True,
    )


@dataclass(frozen=True, slots=True)
class HTTPConfig:
    """``http``: where and how the registry listens, and what it puts in URLs."""

    secret: str = option(
        "Signs the upload state in Location URLs. Set it, the same on every instance "
        "behind one name; unset, a random one is generated at start.",
        custom=True,
        secret=True,
    )
    addr: str = option(
        "host:port to listen on (:5000 is every interface), or a socket path with net: unix.",
        default=DEFAULT_ADDR,
        custom=True,
    )
    net: str = option("tcp or unix.", default="tcp", choices=("tcp", "unix"))
    prefix: str = option("Serve the API below this path (/registry/v2/…).", default="", custom=True)
    host: str | None = option(
        "Base URL of Location headers (https://registry.example.com), for a registry "
        "behind a proxy.",
        default=None,
        custom=True,
    )
    relativeurls: bool = option("Location and Link headers without scheme and host.", default=False)
    draintimeout: timedelta | None = option(
        "How long SIGTERM waits for requests in flight.", default=None, shown="30s"
    )
    tls: TLSConfig | None = option("", default=None, custom=True)
    headers: dict[str, tuple[str, ...]] = option(
        "Headers added to every response: name: [values].", default_factory=dict, custom=True
    )
    #: dockyard's addition: server worker processes (None: chosen at start-up).
    workers: int | None = option(
        "dockyard: server worker processes. One serves in the dockyard process itself; "
        "several run under a supervisor.",
        default=None,
        minimum=1,
        shown="1",
    )
    chunkminlength: int = option(
        "dockyard: the smallest chunk (bytes) a chunked upload may send before its last, "
        "advertised as OCI-Chunk-Min-Length and enforced; 0 advertises none.",
        default=0,
    )
    debug: DebugConfig | None = option(
        "The debug listener (see its keys below); unset, none runs.", default=None, custom=True
    )
    #: True when ``secret`` was generated because the configuration had none.
    secret_generated: bool = False
    #: The ``(host, port)`` a TCP ``addr`` names, as listening takes it (``:5000`` is
    #: every interface); unused with ``net: unix``.
    bind: tuple[str, int] = ("0.0.0.0", 5000)  # noqa: S104 - every interface, as ``:5000``
    http2_disabled: bool = option(
        "The reference's HTTP/2 switch; dockyard serves HTTP/1.1.",
        default=False,
        key="http2.disabled",
        inert=True,
    )
    h2c_enabled: bool = option(
        "The reference's HTTP/2 over cleartext; not offered.",
        default=False,
        key="h2c.enabled",
        inert=True,
    )


@dataclass(frozen=True, slots=True)
class RedisConfig:
    """``redis``: the connection shared by caches and scale-out state."""

    addr: str = option("host:port of the Redis server (required).", custom=True)
    username: str | None = option("ACL user name.", default=None)
    password: str | None = option("Password.", default=None, secret=True)
    db: int = option("Database number.", default=0)
    dialtimeout: timedelta | None = option("Connect timeout.", default=None)
    readtimeout: timedelta | None = option("Read timeout.", default=None)
    writetimeout: timedelta | None = option("Write timeout.", default=None)
    pool_maxidle: int | None = option("Idle connections kept.", default=None, key="pool.maxidle")
    pool_maxactive: int | None = option("Connections at most.", default=None, key="pool.maxactive")
    pool_idletimeout: timedelta | None = option(
        "Close idle connections after this.", default=None, key="pool.idletimeout"
    )
    tls_enabled: bool = option("Connect with TLS.", default=False, key="tls.enabled")


@dataclass(frozen=True, slots=True)
class ValidationConfig:
    """``validation``: which foreign-layer URLs a manifest may reference."""

    disabled: bool = option(
        "Turn off manifest validation (enabled: false says the same).", default=False, custom=True
    )
    manifest_urls_allow: tuple[str, ...] = option(
        "Regular expressions a foreign layer URL must match.",
        default=(),
        key="manifests.urls.allow",
        custom=True,
    )
    manifest_urls_deny: tuple[str, ...] = option(
        "Regular expressions a foreign layer URL must not match.",
        default=(),
        key="manifests.urls.deny",
        custom=True,
    )
    index_platforms: str = option(
        "Which children of an index must exist when it is pushed: all, none, or list "
        "(those of platformlist).",
        default="all",
        key="manifests.indexes.platforms",
        custom=True,
    )
    index_platformlist: tuple[tuple[str, str], ...] = option(
        "For platforms: list, the platforms (architecture and os) whose children must exist.",
        default=(),
        key="manifests.indexes.platformlist",
        custom=True,
    )


#: Signing algorithms ``auth.token.signingalgorithms`` may name: the asymmetric JWS ones
#: (``dockyard.auth.jwt`` implements exactly these; none, HS256 and the like never verify).
TOKEN_SIGNING_ALGORITHMS: Final = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
#: What a repository rule of ``auth.tokenserver.rules`` may allow (``*``: every action).
REPOSITORY_ACTIONS: Final = ("pull", "push", "delete", "*")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class AuthRateLimitConfig:
    """``auth.ratelimit``: failed password attempts allowed per client address and per
    user name within ``window`` before ``lockout``."""

    attempts: int = option("Failed attempts allowed per window (0: no limit).", default=10)
    window: timedelta = option(
        "The window failed attempts are counted in.", default=timedelta(minutes=1)
    )
    lockout: timedelta = option(
        "How long a client address or user name is refused after too many failures.",
        default=timedelta(minutes=5),
    )
    maxentries: int = option(
        "The most client addresses, and user names, remembered (memory bound: at most "
        "320 bytes a record, about 3 MiB per table at 10000).",
        default=10000,
        minimum=1,
    )
    trustedproxies: tuple[IPNetwork, ...] = option(
        "Proxies (addresses or networks) whose X-Forwarded-For names the client.",
        default=(),
        custom=True,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class HtpasswdAuthConfig:
    """``auth.htpasswd``: HTTP Basic against an htpasswd file of bcrypt entries."""

    realm: str = option("The realm of the Basic challenge.", default="dockyard")
    path: str = option("The htpasswd file (required).", required=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenAuthConfig:
    """``auth.token``: bearer tokens from a token service (or dockyard's own)."""

    realm: str = option("URL of the token service (required).", required=True)
    service: str = option("This registry's name in tokens (required).", required=True)
    issuer: str = option("The issuer tokens must name (required).", required=True)
    rootcertbundle: str | None = option("Certificates (PEM) whose keys sign tokens.", default=None)
    jwks: str | None = option("A JSON Web Key Set file of keys that sign tokens.", default=None)
    signingalgorithms: tuple[str, ...] = option(
        "Accepted signing algorithms.",
        default=TOKEN_SIGNING_ALGORITHMS,
        shown="every asymmetric one",
        custom=True,
    )
    leeway: timedelta = option(
        "dockyard: clock skew allowed on expiry and not-before.",
        default=timedelta(seconds=60),
        shown="60s",
    )
    autoredirect: bool = option("Not supported; set realm.", default=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessRuleConfig:
    """One entry of ``auth.tokenserver.rules``: who may do what to which resources.

    Exactly one of ``repositories`` and ``registry`` is set; ``groups`` are names of
    ``auth.tokenserver.groups``.
    """

    repositories: tuple[str, ...] = option(
        "Repository name patterns (*, ** and ${user}).", default=(), custom=True
    )
    registry: tuple[str, ...] = option(
        "Registry resources (catalog), instead of repositories.", default=(), custom=True
    )
    users: tuple[str, ...] = option("Users it applies to (*: anyone logged in).", default=())
    groups: tuple[str, ...] = option("Groups it applies to.", default=())
    anonymous: bool = option("It applies to callers without credentials too.", default=False)
    actions: tuple[str, ...] = option("What it allows: pull, push, delete, *.", default=())

    @property
    def resource_type(self) -> str:
        """``repository`` or ``registry``: the kind of resource the patterns name."""
        return "repository" if self.repositories else "registry"

    @property
    def patterns(self) -> tuple[str, ...]:
        return self.repositories or self.registry


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenServerAuthConfig:
    """``auth.tokenserver``: dockyard's built-in token server, for ``auth.token``."""

    enabled: bool = option("Serve tokens.", default=True)
    htpasswd: str | None = option("htpasswd file of the users who may log in.", default=None)
    key: str | None = option(
        "Signing key (PEM); unset, one is generated under the storage root.", default=None
    )
    expiration: timedelta = option(
        "Lifetime of access tokens (at least 60s).", default=timedelta(minutes=5), shown="5m"
    )
    refreshexpiration: timedelta = option(
        "Lifetime of refresh tokens.", default=timedelta(hours=720), shown="720h"
    )
    path: str = option(
        "Where tokens are served.",
        default="/auth/token",
        shown="the path of auth.token.realm",
        custom=True,
    )
    jwkspath: str = option("Where the signing keys are published.", default="/auth/jwks.json")
    groups: dict[str, tuple[str, ...]] = option(
        "Named lists of users for rules.", default_factory=dict, custom=True
    )
    rules: tuple[AccessRuleConfig, ...] = option(
        "Access rules: repositories (patterns with *, ** and ${user}), users, groups, "
        "anonymous, actions.",
        default=(),
        custom=True,
    )


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """``auth``: access control, one scheme (htpasswd, or token with or without the
    built-in token server), and the limit on failed password attempts."""

    htpasswd: HtpasswdAuthConfig | None = option("", default=None, custom=True)
    token: TokenAuthConfig | None = option("", default=None, custom=True)
    tokenserver: TokenServerAuthConfig | None = option("", default=None, custom=True)
    ratelimit: AuthRateLimitConfig = option("", default_factory=AuthRateLimitConfig, custom=True)

    @property
    def schemes(self) -> tuple[str, ...]:
        """The names of the sections configured (``htpasswd``, ``token``, ``tokenserver``)."""
        return tuple(name for name in AUTH_SCHEMES if getattr(self, name) is not None)

    @property
    def enabled(self) -> bool:
        """Whether any access control is configured (else anyone may push and pull)."""
        return self.htpasswd is not None or self.token is not None


#: Every authentication scheme's section.
AUTH_SCHEMES: Final = ("htpasswd", "token", "tokenserver")


@dataclass(frozen=True, slots=True)
class HealthCheckConfig:
    """One readiness check of ``health``: storage, Redis, a file, an HTTP URL or a TCP port.

    ``target`` is the file, URL or address (empty for storage and Redis); a check fails
    the instance's readiness after ``threshold`` failures in a row.
    """

    kind: str  # "storagedriver", "redis", "file", "http" or "tcp"
    target: str = ""
    interval: timedelta = timedelta(seconds=10)
    threshold: int = 1
    timeout: timedelta = timedelta(seconds=5)
    statuscode: int = 200
    headers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The check's name in ``/debug/health`` (as the reference names them)."""
        return f"{self.kind}_{self.target}" if self.target else self.kind


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """``health``: the checks behind ``/readyz`` and ``/debug/health``."""

    #: Every check the keys below configure, storage first (built by ``sections``).
    checks: tuple[HealthCheckConfig, ...] = (HealthCheckConfig("storagedriver"),)
    storagedriver_enabled: bool = option(
        "Check storage with a write, read and delete under _dockyard/health (dockyard: on "
        "by default; an empty bucket is healthy).",
        default=True,
        key="storagedriver.enabled",
        custom=True,
    )
    storagedriver_interval: timedelta = option(
        "How often storage is checked.",
        default=timedelta(seconds=10),
        key="storagedriver.interval",
        custom=True,
    )
    storagedriver_threshold: int = option(
        "Failures in a row before the instance is unready.",
        default=1,
        key="storagedriver.threshold",
        custom=True,
    )
    file: tuple[str, ...] = option(
        "Files whose existence makes the instance unready: entries of file, interval.",
        default=(),
        custom=True,
    )
    http: tuple[str, ...] = option(
        "URLs that must answer: entries of uri, statuscode, headers, timeout, interval, threshold.",
        default=(),
        custom=True,
    )
    tcp: tuple[str, ...] = option(
        "Addresses that must accept connections: entries of addr, timeout, interval, threshold.",
        default=(),
        custom=True,
    )


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """One entry of ``notifications.endpoints``: where events go, and which."""

    name: str
    url: str
    headers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    timeout: timedelta = timedelta(seconds=5)
    threshold: int = 10
    backoff: timedelta = timedelta(seconds=1)
    #: dockyard's: failed attempts before an event goes to the dead-letter list (0: never).
    maxretries: int = 0
    ignored_mediatypes: tuple[str, ...] = ()
    ignored_actions: tuple[str, ...] = ()
    disabled: bool = False
    #: dockyard's: ``envelope`` (the reference's) or ``cloudevents``.
    format: str = "envelope"
    #: dockyard's: key of the HMAC-SHA256 signature header, when set.
    signing_secret: str | None = None


@dataclass(frozen=True, slots=True)
class NotificationsConfig:
    """``notifications``: webhook endpoints, and where their durable queue lives."""

    endpoints: tuple[EndpointConfig, ...] = option(
        "Where events go: entries of name, url, headers, timeout, threshold, backoff, "
        "ignoredmediatypes, ignore (mediatypes, actions), disabled; dockyard's maxretries "
        "(then the dead-letter list), format (envelope or cloudevents) and signing.secret "
        "(an HMAC-SHA256 header).",
        default=(),
        custom=True,
    )
    includereferences: bool = option(
        "A manifest event's target lists the manifest's references.",
        default=False,
        key="events.includereferences",
        custom=True,
    )
    queue_directory: str | None = option(
        "dockyard: where the durable event queue lives.",
        default=None,
        key="queue.directory",
        shown="<data dir>/notifications",
        custom=True,
    )


@dataclass(frozen=True, slots=True)
class UIConfig:
    """``ui``: dockyard's web interface, served by the registry itself."""

    enabled: bool = option("Serve the web interface.", default=True, custom=True)
    path: str = option(
        "Where it is served; / redirects there while it is enabled (not / and not below /v2).",
        default="/ui",
        custom=True,
    )


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration of one dockyard process."""

    storage: StorageConfig = option("", custom=True)
    http: HTTPConfig = option("", custom=True)
    version: str = option("The configuration format: 0.1 (required).", default="0.1", custom=True)
    log: LogConfig = option("", default_factory=LogConfig)
    auth: AuthConfig = option("", default_factory=AuthConfig, custom=True)
    redis: RedisConfig | None = option("", default=None, custom=True)
    validation: ValidationConfig = option("", default_factory=ValidationConfig, custom=True)
    #: ``catalog.maxentries``: the most repositories one catalog page returns.
    catalog_maxentries: int = option(
        "The most repositories one catalog page returns.",
        default=1000,
        minimum=1,
        key="catalog.maxentries",
    )
    health: HealthConfig = option("", default_factory=HealthConfig, custom=True)
    notifications: NotificationsConfig = option(
        "", default_factory=NotificationsConfig, custom=True
    )
    ui: UIConfig = option("", default_factory=UIConfig, custom=True)
    proxy: ProxyConfig | None = option("", default=None, custom=True)
    sync: SyncConfig | None = option("", default=None, custom=True)
    #: Sections kept as given (``middleware``, ``reporting`` …), unsupported.
    extra: dict[str, Any] = field(default_factory=dict)
    #: What was ignored or defaulted while loading, for the operator.
    warnings: tuple[str, ...] = ()
    #: The file the configuration came from, if any.
    source: str | None = None
