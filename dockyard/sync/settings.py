"""The ``sync`` section: copies from other registries that ``dockyard serve`` repeats."""

# ``option`` returns a ``dataclasses.field``: a declaration, not a shared default.
# ruff: noqa: RUF009

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from dockyard.config.declare import option, read

if TYPE_CHECKING:
    from dockyard.config.sections import Section


@dataclass(frozen=True, slots=True)
class SyncJobConfig:
    """``sync.jobs[]``: one registry to copy from, and what to copy."""

    url: str = option("The source registry's base URL (required).", custom=True, key="from")
    username: str | None = option("User name at the source.", default=None)
    password: str | None = option("Password at the source.", default=None)
    repositories: tuple[str, ...] = option(
        "Repositories to copy; empty: every one the source's catalog lists.", default=()
    )
    prefix: str = option("Only repositories below this prefix.", default="")
    tags: str | None = option("Only tags this regular expression finds.", default=None)
    semver: str | None = option("Only tags that are versions in this range.", default=None)
    platforms: tuple[str, ...] = option(
        "Of an index, only the children of these platforms (os/architecture[/variant]); "
        "the index keeps its digest. Empty: every platform.",
        default=(),
    )
    ratelimit: int = option("Requests per second sent to the source at most.", default=0)


@dataclass(frozen=True, slots=True)
class SyncConfig:
    """``sync``: what ``dockyard serve`` copies from other registries, and how often."""

    interval: timedelta = option(
        "How often the jobs run (the first run is at start-up).",
        default=timedelta(hours=1),
        shown="1h",
    )
    jobs: tuple[SyncJobConfig, ...] = option(
        "The copies: from, username, password, repositories, prefix, tags, semver, platforms, "
        "ratelimit.",
        default=(),
        custom=True,
    )


def read_sync(section: Section) -> SyncConfig:
    """The ``sync`` section, each job checked; ``ConfigError`` names a bad key."""
    from dockyard.config.model import ConfigError
    from dockyard.sync.platforms import PlatformFilter, PlatformInvalid
    from dockyard.sync.semver import RangeInvalid, VersionRange

    entries = section.raw("jobs") or []
    if not isinstance(entries, list) or not entries:
        raise ConfigError("sync.jobs: expected a list of at least one job")
    jobs = []
    for index, entry in enumerate(entries):
        key = f"sync.jobs[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{key}: expected a mapping")
        child = type(section)(entry, key, section.warnings)
        url = child.text("from") or ""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{key}.from: expected an http:// or https:// URL")
        job = read(SyncJobConfig, child, url=url.rstrip("/"))
        child.finish()
        if job.tags is not None:
            try:
                re.compile(job.tags)
            except re.error as error:
                raise ConfigError(f"{key}.tags: not a regular expression ({error})") from None
        if job.semver is not None:
            try:
                VersionRange(job.semver)
            except RangeInvalid as error:
                raise ConfigError(f"{key}.semver: {error.message}") from None
        try:
            PlatformFilter.parse(job.platforms)
        except PlatformInvalid as error:
            raise ConfigError(f"{key}.platforms: {error.message}") from None
        jobs.append(
            replace(job, repositories=tuple(job.repositories), platforms=tuple(job.platforms))
        )
    config = read(SyncConfig, section, jobs=tuple(jobs))
    section.finish()
    return config
