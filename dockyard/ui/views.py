"""What the web interface's pages show, gathered through the registry services.

Everything here reads through the ``storage.protocols`` services (catalog, tags,
manifests, blobs, referrers), never the storage layout, and returns plain view models
that the templates render. Pages are cut before anything per-item is read: a listing
reads tags, manifests and configs for the one page it shows.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.errors import BlobUnknown, ManifestUnknown, NameUnknown, TagUnknown
from dockyard.gc.report import CollectionRun
from dockyard.manifest.base import Manifest
from dockyard.scrub.report import ScrubRun
from dockyard.storage.driver.base import OpenFile
from dockyard.storage.protocols import Registry, Repository, UploadStatus

#: Repositories a listing page shows.
REPOSITORIES_PER_PAGE: Final = 50
#: Tags a repository page shows.
TAGS_PER_PAGE: Final = 50
#: Catalog names read per step, at most, while searching or counting.
CATALOG_CHUNK: Final = 1000
#: The largest image config the manifest page reads.
MAX_CONFIG_SIZE: Final = 1 << 20
#: How deep the referrers tree goes (a signature of an SBOM of an image is depth 2).
REFERRER_DEPTH: Final = 4
#: Referrers the tree shows in all, at most.
REFERRER_NODES: Final = 300

_FALLBACK_TAG: Final = re.compile(r"(sha256|sha512)-([0-9a-f]{64}|[0-9a-f]{128})(?:\.(\w+))?")
#: What cosign's tag suffixes stand for, as artifact types in the tree.
_COSIGN_SUFFIXES: Final = {
    "sig": "cosign signature (.sig tag)",
    "att": "cosign attestation (.att tag)",
    "sbom": "cosign SBOM (.sbom tag)",
}
_UNKNOWN_PLATFORM: Final = "unknown/unknown"


# --- formatting ---------------------------------------------------------------------------


def human_size(size: int | None) -> str:
    """``1536`` → ``1.5 KiB``; a dash for unknown."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


def short_digest(digest: Digest | str) -> str:
    """``sha256:0123456789ab…`` → ``sha256:0123456789ab`` (the first 12 hex digits)."""
    text = str(digest)
    algorithm, _, hex_part = text.partition(":")
    return f"{algorithm}:{hex_part[:12]}"


def timestamp(moment: datetime | None) -> str:
    """A push time as ``2026-12-03 09:41 UTC``; empty when unknown."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def registry_host(configured: str | None, request_host: str | None) -> str:
    """The host name clients pull from: ``http.host``'s, else the request's ``Host``."""
    if configured:
        netloc = urlsplit(configured if "//" in configured else f"//{configured}").netloc
        if netloc:
            return netloc
    return request_host or "localhost:5000"


@dataclass(frozen=True, slots=True)
class PullCommand:
    """One copyable command line and the client it is for."""

    client: str
    command: str


def pull_commands(host: str, repository: str, reference: str) -> list[PullCommand]:
    """``docker pull`` and ``podman pull`` for a tag or a digest of ``repository``."""
    separator = "@" if ":" in reference else ":"
    image = f"{host}/{repository}{separator}{reference}"
    return [
        PullCommand("docker", f"docker pull {image}"),
        PullCommand("podman", f"podman pull {image}"),
    ]


_MEDIA_TYPE_NAMES: Final = {
    "application/vnd.oci.image.index.v1+json": "OCI index",
    "application/vnd.oci.image.manifest.v1+json": "OCI manifest",
    "application/vnd.docker.distribution.manifest.list.v2+json": "Docker manifest list",
    "application/vnd.docker.distribution.manifest.v2+json": "Docker manifest v2",
    "application/vnd.docker.distribution.manifest.v1+json": "Docker schema 1",
    "application/vnd.docker.distribution.manifest.v1+prettyjws": "Docker schema 1 (signed)",
}


def media_type_name(media_type: str) -> str:
    """A short name for a manifest media type (the type itself when it has none)."""
    return _MEDIA_TYPE_NAMES.get(media_type, media_type)


def platform_name(platform: dict[str, Any] | None) -> str:
    """``linux/arm64/v8`` from a platform object (or an image config)."""
    if not platform:
        return _UNKNOWN_PLATFORM
    parts = [str(platform.get("os") or "unknown"), str(platform.get("architecture") or "unknown")]
    if platform.get("variant"):
        parts.append(str(platform["variant"]))
    return "/".join(parts)


# --- the repository list ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RepositorySummary:
    """One row of the repository list."""

    name: str
    tag_count: int
    last_push: datetime | None


@dataclass(frozen=True, slots=True)
class RepositoryListing:
    """One page of repositories matching a search, and the cursor of the next page."""

    rows: list[RepositorySummary]
    next_after: str | None


async def catalog_pages(
    registry: Registry, after: str | None, first: int = CATALOG_CHUNK
) -> AsyncIterator[list[str]]:
    """The catalog after ``after``, page by page: ``first`` names, then growing steps."""
    size = first
    while True:
        page = await registry.catalog(last=after, n=size)
        if page.items:
            yield page.items
        if not page.more or not page.items:
            return
        after = page.items[-1]
        size = min(size * 4, CATALOG_CHUNK)


async def find_repositories(
    registry: Registry,
    visible: Callable[[str], bool],
    query: str,
    after: str | None,
    limit: int = REPOSITORIES_PER_PAGE,
) -> tuple[list[str], str | None]:
    """Up to ``limit`` names after ``after`` containing ``query`` that ``visible`` allows,
    in catalog order, and the cursor for the next page (None on the last).

    The catalog is asked for one page's worth first, and for more only while names are
    skipped (a search), so the first page of a large registry reads little.
    """
    needle = query.strip().lower()
    found: list[str] = []
    async for names in catalog_pages(registry, after, first=limit + 1):
        for name in names:
            if needle in name and visible(name):
                if len(found) == limit:
                    return found, found[-1]
                found.append(name)
    return found, None


async def summarize(repository: Repository) -> RepositorySummary:
    """A repository's tag count and latest push."""
    try:
        names = (await repository.tags.list()).items
        records = await repository.tags.describe(names)
    except NameUnknown:  # removed meanwhile
        return RepositorySummary(repository.name, 0, None)
    last = max((record.pushed_at for record in records), default=None)
    return RepositorySummary(repository.name, len(names), last)


async def list_repositories(
    registry: Registry, visible: Callable[[str], bool], query: str, after: str | None
) -> RepositoryListing:
    """The repository list page: names first, then what each row shows."""
    names, next_after = await find_repositories(registry, visible, query, after)
    rows = await asyncio.gather(*(summarize(registry.repository(name)) for name in names))
    return RepositoryListing(list(rows), next_after)


# --- the repository page ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ManifestSummary:
    """What a tag row says about the manifest the tag points at."""

    media_type: str
    total_size: int | None
    platforms: list[str]
    artifact_type: str | None = None


@dataclass(frozen=True, slots=True)
class TagRow:
    """One tag of the repository page."""

    name: str
    digest: Digest
    pushed_at: datetime
    manifest: ManifestSummary | None


@dataclass(frozen=True, slots=True)
class TagPage:
    """One page of a repository's tags in the chosen order."""

    rows: list[TagRow]
    total: int
    page: int
    pages: int
    sort: str
    #: The tag the pull commands name: ``latest`` if there is one, else the first shown.
    pull_tag: str | None


TAG_SORTS: Final = ("name", "-name", "pushed", "-pushed")


async def tag_page(repository: Repository, sort: str, page: int) -> TagPage:
    """Tags in ``sort`` order (``name``, ``pushed``; ``-`` descending), page ``page``.

    Sorting by name cuts the page before any tag is read; sorting by push time needs
    every tag's push time first (one stat per tag), then reads only the page's manifests.
    """
    if sort not in TAG_SORTS:
        sort = "name"
    names = (await repository.tags.list()).items
    total = len(names)
    pages = max(1, -(-total // TAGS_PER_PAGE))
    page = min(max(page, 1), pages)
    start = (page - 1) * TAGS_PER_PAGE
    descending = sort.startswith("-")
    if sort.endswith("name"):
        ordered = names[::-1] if descending else names
        records = await repository.tags.describe(ordered[start : start + TAGS_PER_PAGE])
    else:
        every = await repository.tags.describe(names)
        every.sort(key=lambda record: (record.pushed_at, record.name), reverse=descending)
        records = every[start : start + TAGS_PER_PAGE]
    summaries = await asyncio.gather(
        *(summarize_manifest(repository, record.digest) for record in records)
    )
    rows = [
        TagRow(record.name, record.digest, record.pushed_at, summary)
        for record, summary in zip(records, summaries, strict=True)
    ]
    pull_tag = "latest" if "latest" in names else (rows[0].name if rows else None)
    return TagPage(rows, total, page, pages, sort, pull_tag)


async def _manifest_or_none(repository: Repository, digest: Digest) -> Manifest | None:
    try:
        return await repository.manifests.get(digest)
    except ManifestUnknown:
        return None


async def read_config(repository: Repository, descriptor: Descriptor) -> dict[str, Any] | None:
    """An image config as JSON, when it is small, linked and JSON."""
    if descriptor.size > MAX_CONFIG_SIZE:
        return None
    try:
        content = await repository.blobs.open(descriptor.digest, 0, descriptor.size)
        if content.stream is not None:
            data = b"".join([chunk async for chunk in content.stream])
        elif content.file is not None:
            data = await asyncio.to_thread(_read_open_file, content.file, descriptor.size)
        else:
            return None
        parsed = json.loads(data)
    except (BlobUnknown, OSError, ValueError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _read_open_file(file: OpenFile, size: int) -> bytes:
    """The first ``size`` bytes of a file the driver opened, which this closes."""
    try:
        return os.pread(file.fd, size, 0)
    finally:
        file.close()


def _is_image_config(media_type: str) -> bool:
    return media_type in (
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.docker.container.image.v1+json",
    )


async def summarize_manifest(repository: Repository, digest: Digest) -> ManifestSummary | None:
    """Media type, total size (distinct blobs and manifests) and platforms of a manifest."""
    manifest = await _manifest_or_none(repository, digest)
    if manifest is None:
        return None
    artifact = manifest.artifact_type
    if manifest.is_index:
        children = await asyncio.gather(
            *(_manifest_or_none(repository, child.digest) for child in manifest.manifests)
        )
        sizes: dict[Digest, int] = {manifest.digest: len(manifest.body)}
        complete = True
        for descriptor, child in zip(manifest.manifests, children, strict=True):
            sizes[descriptor.digest] = descriptor.size
            if child is None:
                complete = False
                continue
            sizes.update((blob.digest, blob.size) for blob in child.blob_references)
        platforms = [
            name
            for name in dict.fromkeys(platform_name(d.platform) for d in manifest.manifests)
            if name != _UNKNOWN_PLATFORM
        ]
        return ManifestSummary(
            manifest.media_type, sum(sizes.values()) if complete else None, platforms, artifact
        )
    sizes = {manifest.digest: len(manifest.body)}
    sizes.update((blob.digest, blob.size) for blob in manifest.blob_references)
    platforms = []
    config = manifest.config
    if config is not None and _is_image_config(config.media_type):
        parsed = await read_config(repository, config)
        if parsed is not None and (parsed.get("os") or parsed.get("architecture")):
            platforms = [platform_name(parsed)]
    elif config is not None and not artifact:
        artifact = config.media_type
    return ManifestSummary(manifest.media_type, sum(sizes.values()), platforms, artifact)


# --- the manifest page --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One step of an image's history (a Dockerfile instruction, say)."""

    created: str
    created_by: str
    comment: str
    empty_layer: bool


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """The fields of an image config people look for."""

    created: str
    platform: str
    entrypoint: list[str]
    cmd: list[str]
    env: list[str]
    labels: dict[str, str]
    exposed_ports: list[str]
    working_dir: str
    user: str
    history: list[HistoryEntry]


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(value: Any) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def image_config(parsed: dict[str, Any]) -> ImageConfig:
    """The interesting fields of an OCI or Docker image config, tolerating odd values."""
    settings = _mapping(parsed.get("config"))
    history = parsed.get("history")
    return ImageConfig(
        created=str(parsed.get("created") or ""),
        platform=platform_name(parsed),
        entrypoint=_strings(settings.get("Entrypoint")),
        cmd=_strings(settings.get("Cmd")),
        env=_strings(settings.get("Env")),
        labels={str(k): str(v) for k, v in _mapping(settings.get("Labels")).items()},
        exposed_ports=sorted(str(port) for port in _mapping(settings.get("ExposedPorts"))),
        working_dir=str(settings.get("WorkingDir") or ""),
        user=str(settings.get("User") or ""),
        history=[
            HistoryEntry(
                created=str(entry.get("created") or ""),
                created_by=str(entry.get("created_by") or ""),
                comment=str(entry.get("comment") or ""),
                empty_layer=bool(entry.get("empty_layer")),
            )
            for entry in (history if isinstance(history, list) else [])
            if isinstance(entry, dict)
        ],
    )


@dataclass(frozen=True, slots=True)
class ChildManifest:
    """One platform's manifest of an index."""

    descriptor: Descriptor
    platform: str
    summary: ManifestSummary | None


@dataclass(frozen=True, slots=True)
class ReferrerNode:
    """A manifest referring to a subject, with what refers to it in turn."""

    descriptor: Descriptor
    artifact_type: str
    source: str  # "subject" or "tag"
    below: list[ReferrerNode] = field(default_factory=list)

    @property
    def children(self) -> list[ReferrerGroup]:
        return group_referrers(self.below)


@dataclass(frozen=True, slots=True)
class ReferrerGroup:
    """Referrers of one subject sharing an ``artifactType``."""

    artifact_type: str
    nodes: list[ReferrerNode]


def group_referrers(nodes: Sequence[ReferrerNode]) -> list[ReferrerGroup]:
    """``nodes`` grouped by artifact type, the groups in name order."""
    groups: dict[str, list[ReferrerNode]] = {}
    for node in nodes:
        groups.setdefault(node.artifact_type, []).append(node)
    return [ReferrerGroup(kind, groups[kind]) for kind in sorted(groups)]


@dataclass(frozen=True, slots=True)
class ManifestView:
    """Everything the manifest page shows."""

    manifest: Manifest
    tags: list[str]
    total_size: int | None
    config: ImageConfig | None
    config_error: str | None
    children: list[ChildManifest]
    referrers: list[ReferrerGroup]
    #: Whether the tree was cut at ``REFERRER_NODES`` referrers.
    referrers_truncated: bool
    raw_json: str
    annotations: dict[str, str] = field(default_factory=dict)


async def manifest_view(repository: Repository, manifest: Manifest) -> ManifestView:
    """The manifest page of ``manifest``: config, layers or platforms, referrers, JSON."""
    tag_names = (await repository.tags.list()).items
    tags, summary, (referrers, truncated) = await asyncio.gather(
        tags_pointing_at(repository, manifest.digest, tag_names),
        summarize_manifest(repository, manifest.digest),
        referrer_tree(repository, manifest.digest, tag_names),
    )
    config: ImageConfig | None = None
    config_error: str | None = None
    if manifest.config is not None and _is_image_config(manifest.config.media_type):
        parsed = await read_config(repository, manifest.config)
        if parsed is None:
            config_error = "The image config could not be read."
        else:
            config = image_config(parsed)
    children: list[ChildManifest] = []
    if manifest.is_index:
        summaries = await asyncio.gather(
            *(summarize_manifest(repository, child.digest) for child in manifest.manifests)
        )
        children = [
            ChildManifest(child, platform_name(child.platform), child_summary)
            for child, child_summary in zip(manifest.manifests, summaries, strict=True)
        ]
    try:
        raw_json = json.dumps(json.loads(manifest.body), indent=2, ensure_ascii=False)
    except ValueError:
        raw_json = manifest.body.decode("utf-8", "replace")
    return ManifestView(
        manifest=manifest,
        tags=tags,
        total_size=summary.total_size if summary else None,
        config=config,
        config_error=config_error,
        children=children,
        referrers=referrers,
        referrers_truncated=truncated,
        raw_json=raw_json,
        annotations=dict(manifest.annotations or {}),
    )


async def tags_pointing_at(
    repository: Repository, digest: Digest, tag_names: Sequence[str] | None = None
) -> list[str]:
    """The tags pointing at ``digest``, read in one go (``Tags.describe``)."""
    if tag_names is None:
        tag_names = (await repository.tags.list()).items
    return [r.name for r in await repository.tags.describe(tag_names) if r.digest == digest]


def fallback_tags(subject: Digest, tag_names: Sequence[str]) -> list[tuple[str, str | None]]:
    """Tags of the referrers tag schema for ``subject``: ``sha256-<hex>`` (an index of
    referrers) and cosign's ``sha256-<hex>.sig``/``.att``/``.sbom``, with their suffix."""
    prefix = f"{subject.algorithm}-{subject.hex}"
    found: list[tuple[str, str | None]] = []
    for name in tag_names:
        if not name.startswith(prefix):
            continue
        match = _FALLBACK_TAG.fullmatch(name)
        if match is not None:
            found.append((name, match.group(3)))
    return found


async def _fallback_referrers(
    repository: Repository, subject: Digest, tag_names: Sequence[str]
) -> list[tuple[Descriptor, str | None]]:
    """Referrers found through the tag schema, each with an artifact type to file it under."""
    found: list[tuple[Descriptor, str | None]] = []
    for tag, suffix in fallback_tags(subject, tag_names):
        try:
            manifest = await repository.manifests.get(await repository.tags.resolve(tag))
        except (TagUnknown, ManifestUnknown):  # changed meanwhile
            continue
        if suffix is None and manifest.is_index:
            found.extend((child, child.artifact_type) for child in manifest.manifests)
        else:
            label = _COSIGN_SUFFIXES.get(suffix or "", None)
            found.append((manifest.descriptor(), label or manifest.descriptor().artifact_type))
    return found


async def _referrers_of(
    repository: Repository, subject: Digest, tag_names: Sequence[str]
) -> list[tuple[Descriptor, str, str]]:
    """``(descriptor, artifact type, source)`` of the referrers of ``subject``: by their
    ``subject`` field first, then through the tag schema."""
    entries: dict[Digest, tuple[Descriptor, str, str]] = {}
    for descriptor in await repository.referrers.list(subject):
        kind = descriptor.artifact_type or descriptor.media_type
        entries[descriptor.digest] = (descriptor, kind, "subject")
    for descriptor, filed_as in await _fallback_referrers(repository, subject, tag_names):
        kind = filed_as or descriptor.media_type
        entries.setdefault(descriptor.digest, (descriptor, kind, "tag"))
    return list(entries.values())


async def referrer_tree(
    repository: Repository, subject: Digest, tag_names: Sequence[str]
) -> tuple[list[ReferrerGroup], bool]:
    """Referrers of ``subject``, grouped by artifact type, each with its own referrers
    below it, read level by level; and whether the tree was cut short.

    At most ``REFERRER_DEPTH`` levels and ``REFERRER_NODES`` referrers in all, each shown
    once (the tag schema's tags can be pointed anywhere, cycles included).
    """
    top: list[ReferrerNode] = []
    level: list[tuple[Digest, list[ReferrerNode]]] = [(subject, top)]
    seen = {subject}
    budget = REFERRER_NODES
    truncated = False
    for _ in range(REFERRER_DEPTH):
        found = await asyncio.gather(
            *(_referrers_of(repository, digest, tag_names) for digest, _ in level)
        )
        next_level: list[tuple[Digest, list[ReferrerNode]]] = []
        for (_, below), entries in zip(level, found, strict=True):
            for descriptor, kind, source in entries:
                if descriptor.digest in seen:
                    continue
                if budget == 0:
                    truncated = True
                    break
                budget -= 1
                seen.add(descriptor.digest)
                node = ReferrerNode(descriptor, kind, source)
                below.append(node)
                next_level.append((descriptor.digest, node.below))
        if not next_level:
            break
        level = next_level
    else:
        truncated = truncated or bool(level)
    return group_referrers(top), truncated


# --- the status page ----------------------------------------------------------------------


#: Upload sessions the status page lists (the oldest: abandoned ones show first).
SESSIONS_SHOWN: Final = 100


@dataclass(frozen=True, slots=True)
class RegistryStatus:
    """What the status page shows."""

    repository_count: int
    session_count: int
    session_bytes: int
    oldest_sessions: list[UploadStatus]
    #: The last garbage collection (its ``bytes_stored`` is the storage used); None: never.
    collection: CollectionRun | None
    #: The last scrub; None: never.
    scrub: ScrubRun | None


async def all_repositories(registry: Registry) -> list[str]:
    """Every repository name, read from the catalog page by page."""
    return [name async for names in catalog_pages(registry, None) for name in names]


async def registry_status(registry: Registry) -> RegistryStatus:
    """Repositories, the open upload sessions of all of them, the last collection and scrub."""
    names = await all_repositories(registry)
    sessions = await registry.upload_sessions(names)
    return RegistryStatus(
        repository_count=len(names),
        session_count=len(sessions),
        session_bytes=sum(session.offset for session in sessions),
        oldest_sessions=sessions[:SESSIONS_SHOWN],
        collection=await registry.last_collection(),
        scrub=await registry.last_scrub(),
    )


# --- deleting -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeletionPlan:
    """What a deletion removes, said before it happens."""

    tag: str | None
    digest: Digest
    tags_removed: list[str]
    other_tags: list[str]


async def plan_deletion(
    repository: Repository, tag: str | None, digest: Digest | None
) -> DeletionPlan:
    """Deleting a tag removes the tag only; deleting a manifest removes it and its tags."""
    if tag is not None:
        target = await repository.tags.resolve(tag)
        pointing = await tags_pointing_at(repository, target)
        return DeletionPlan(tag, target, [tag], [t for t in pointing if t != tag])
    assert digest is not None
    await repository.manifests.stat(digest)
    return DeletionPlan(None, digest, await tags_pointing_at(repository, digest), [])
