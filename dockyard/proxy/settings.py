"""The ``proxy`` section: the reference's single upstream and dockyard's ``upstreams[]``."""

# ``option`` returns a ``dataclasses.field``: a declaration, not a shared default.
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from dockyard.config.declare import option, read

if TYPE_CHECKING:
    from dockyard.config.sections import Section

#: The reference's default time a cached tag is trusted (and a repository kept unused).
DEFAULT_TTL: Final = timedelta(hours=168)


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """``proxy.upstreams[]``: one registry mirrored below a path prefix or for an ``ns``."""

    name: str = option("A name for logs and errors (required).", custom=True)
    url: str = option(
        "The upstream's base URL: https://registry-1.docker.io (required).", custom=True
    )
    username: str | None = option("User name for the upstream (Basic or token flow).", default=None)
    password: str | None = option("Password or access token for the upstream.", default=None)
    prefix: str = option(
        "Repositories below this path prefix (hub/ → hub/library/alpine) are proxied, the "
        "prefix removed upstream; empty: every repository not matched otherwise.",
        default="",
    )
    namespaces: tuple[str, ...] = option(
        "Registry host names a client's ns query parameter may name for this upstream "
        "(docker.io); the response carries OCI-Namespace.",
        default=(),
    )
    ttl: timedelta = option(
        "How long a cached tag is trusted before a HEAD revalidates it, and how long an "
        "unused repository is kept.",
        default=DEFAULT_TTL,
        shown="168h",
    )
    ratelimit: int = option(
        "Requests per second each worker sends to the upstream at most (0: unlimited).", default=0
    )
    library: bool | None = option(
        "Look up single-name repositories (alpine) as library/alpine upstream.",
        default=None,
        shown="true for Docker Hub",
    )

    @property
    def adds_library(self) -> bool:
        """Whether ``alpine`` is asked upstream as ``library/alpine``."""
        if self.library is not None:
            return self.library
        host = urlsplit(self.url).hostname or ""
        return host in ("docker.io", "registry-1.docker.io", "index.docker.io")


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """``proxy``: mirror the reference's single ``remoteurl``, or several ``upstreams``."""

    remoteurl: str | None = option(
        "The upstream every repository of this registry mirrors (the reference's key).",
        default=None,
    )
    username: str | None = option("User name for remoteurl.", default=None)
    password: str | None = option("Password for remoteurl.", default=None)
    ttl: timedelta = option(
        "Tag revalidation and expiry of remoteurl's repositories.",
        default=DEFAULT_TTL,
        shown="168h",
    )
    upstreams: tuple[UpstreamConfig, ...] = option(
        "dockyard: several upstreams, each with name, url, username, password, prefix, "
        "namespaces, ttl, ratelimit, library.",
        default=(),
        custom=True,
    )
    lockdir: str | None = option(
        "dockyard: where workers coordinate fetches (lock files).",
        default=None,
        shown="dockyard-proxy-<hash of the storage> in the temporary directory",
    )
    expiry_interval: timedelta = option(
        "dockyard: how often expired repositories are removed.",
        default=timedelta(minutes=10),
        shown="10m",
        key="expiry.interval",
    )

    @property
    def all_upstreams(self) -> tuple[UpstreamConfig, ...]:
        """``upstreams``, plus ``remoteurl`` as an upstream of every other repository."""
        if self.remoteurl is None:
            return self.upstreams
        single = UpstreamConfig(
            name="remote",
            url=self.remoteurl,
            username=self.username,
            password=self.password,
            ttl=self.ttl,
        )
        return (*self.upstreams, single)


def read_proxy(section: Section) -> ProxyConfig:
    """The ``proxy`` section, its upstreams checked; ``ConfigError`` names a bad key."""
    from dockyard.config.model import ConfigError

    entries = section.raw("upstreams") or []
    if not isinstance(entries, list):
        raise ConfigError("proxy.upstreams: expected a list of upstreams")
    upstreams: list[UpstreamConfig] = []
    for index, entry in enumerate(entries):
        key = f"proxy.upstreams[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{key}: expected a mapping")
        child = type(section)(entry, key, section.warnings)
        name = child.text("name")
        url = child.text("url")
        if not name:
            raise ConfigError(f"{key}.name: required")
        upstream = read(UpstreamConfig, child, name=name, url=_url(url, f"{key}.url"))
        child.finish()
        prefix = upstream.prefix.strip("/")
        upstreams.append(replace(upstream, prefix=f"{prefix}/" if prefix else ""))
    config = read(ProxyConfig, section, upstreams=tuple(upstreams))
    section.finish()
    if config.remoteurl is not None:
        config = replace(config, remoteurl=_url(config.remoteurl, "proxy.remoteurl"))
    names = [u.name for u in config.upstreams]
    if len(set(names)) != len(names):
        raise ConfigError("proxy.upstreams: names must be unique")
    catch_all = [u.name for u in config.all_upstreams if not u.prefix]
    if len(catch_all) > 1:
        raise ConfigError(
            "proxy.upstreams: at most one upstream may serve every repository (no prefix); "
            f"got {', '.join(catch_all)}"
        )
    if not config.all_upstreams:
        raise ConfigError("proxy: set remoteurl or at least one of upstreams")
    return config


def _url(value: str | None, key: str) -> str:
    from dockyard.config.model import ConfigError

    if not value:
        raise ConfigError(f"{key}: required")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{key}: expected an http:// or https:// URL")
    return value.rstrip("/")
