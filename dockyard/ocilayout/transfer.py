"""``dockyard export`` and ``dockyard import``: images between the registry and a layout.

Both go through the registry's services, as a client's pull and push would: export
reads manifests and blobs as stored (digests are kept, bodies byte-exact), import pushes
blobs through the verified upload path and manifests through ``Manifests.put``, children
before the index that lists them, and tags last.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dockyard.digest import Digest
from dockyard.errors import BlobUnknown, DockyardError
from dockyard.manifest import Manifest, parse_manifest
from dockyard.ocilayout.layout import REF_NAME, REPOSITORY, LayoutError, OciLayout
from dockyard.reference import validate_name, validate_tag
from dockyard.storage.protocols import Registry, Repository
from dockyard.sync.content import content_chunks

#: Called with a message for each blob copied, for a progress display.
Progress = Callable[[str], None]


class ReferenceInvalid(DockyardError):
    """An image reference on the command line is not ``name:tag`` or ``name@digest``."""


@dataclass(slots=True)
class Transferred:
    """One image copied: where it went, its digest, and what it took."""

    repository: str
    tag: str | None
    digest: Digest
    blobs: int = 0
    bytes: int = 0
    skipped: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "tag": self.tag,
            "digest": str(self.digest),
            "blobs": self.blobs,
            "bytes": self.bytes,
            "skipped": self.skipped,
        }


@dataclass(slots=True)
class _Copy:
    progress: Progress
    done: set[Digest] = field(default_factory=set)


def parse_image_reference(text: str) -> tuple[str, str | None, Digest | None]:
    """``name:tag``, ``name@digest`` or ``name`` (``latest``) as (name, tag, digest)."""
    try:
        if "@" in text:
            name, _, digest = text.partition("@")
            return validate_name(name), None, Digest.parse(digest)
        name, colon, tag = text.rpartition(":")
        if not colon or "/" in tag:
            return validate_name(text), "latest", None
        return validate_name(name), validate_tag(tag), None
    except DockyardError as error:
        raise ReferenceInvalid(f"{text!r}: {error.message}") from None


# --- export -------------------------------------------------------------------------------


async def export_images(
    registry: Registry,
    references: list[str],
    layout: OciLayout,
    progress: Progress,
    *,
    with_referrers: bool = False,
) -> list[Transferred]:
    """Write the images ``references`` name into ``layout``; index.json names each one
    ``name:tag`` (an image named by digest carries its repository in an annotation).

    ``with_referrers`` adds the manifests that refer to each image (signatures, SBOMs …),
    listed in index.json after it, with their repository and no tag.
    """
    parsed = [parse_image_reference(text) for text in references]
    await layout.create()
    copy = _Copy(progress)
    results: list[Transferred] = []
    entries: list[dict[str, Any]] = []
    for name, tag, digest in parsed:
        repository = registry.repository(name)
        reference: Digest | str = digest if digest is not None else str(tag)
        manifest = await repository.manifests.get(reference)
        result = Transferred(name, tag, manifest.digest)
        await _export_manifest(repository, manifest, layout, copy, result)
        annotations = {REF_NAME: f"{name}:{tag}"} if tag else {REPOSITORY: name}
        entries.append(_entry(manifest, annotations))
        results.append(result)
        if with_referrers:
            for referrer in await repository.referrers.list(manifest.digest):
                if referrer.digest in copy.done:
                    continue
                referring = await repository.manifests.get(referrer.digest)
                await _export_manifest(repository, referring, layout, copy, result)
                copy.done.add(referrer.digest)
                entries.append(_entry(referring, {REPOSITORY: name}))
    await layout.write_index(entries)
    return results


def _entry(manifest: Manifest, annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "mediaType": manifest.media_type,
        "digest": str(manifest.digest),
        "size": len(manifest.body),
        "annotations": annotations,
    }


async def _export_manifest(
    repository: Repository,
    manifest: Manifest,
    layout: OciLayout,
    copy: _Copy,
    result: Transferred,
) -> None:
    for child in manifest.manifests:
        child_manifest = await repository.manifests.get(child.digest)
        await _export_manifest(repository, child_manifest, layout, copy, result)
    for descriptor in manifest.blob_references:
        digest = descriptor.digest
        if digest in copy.done or await layout.has(digest):
            copy.done.add(digest)
            result.skipped += 1
            continue
        content = await repository.blobs.open(digest)
        size = await layout.write_blob(digest, content_chunks(content))
        copy.done.add(digest)
        result.blobs += 1
        result.bytes += size
        copy.progress(f"{repository.name}: {digest} ({size} bytes)")
    await layout.write_blob(manifest.digest, _one(manifest.body))


async def _one(data: bytes) -> Any:
    yield data


# --- import -------------------------------------------------------------------------------


async def import_images(
    registry: Registry, layout: OciLayout, repository: str | None, progress: Progress
) -> list[Transferred]:
    """Push every image ``layout``'s index.json names into the registry.

    Each entry's repository and tag come from its ``ref.name`` (``name:tag``); with
    ``repository`` set, every image goes there and a ref.name is only its tag.
    """
    entries = await layout.index()
    targets = [_target(entry, repository, layout) for entry in entries]
    copy = _Copy(progress)
    results = []
    for entry, (name, tag) in zip(entries, targets, strict=True):
        digest = Digest.parse(str(entry.get("digest")))
        target = registry.repository(name)
        result = Transferred(name, tag, digest)
        await _import_manifest(target, layout, digest, entry.get("mediaType"), copy, result)
        if tag is not None:
            await target.tags.tag(tag, digest)
        results.append(result)
    return results


def _target(
    entry: dict[str, Any], repository: str | None, layout: OciLayout
) -> tuple[str, str | None]:
    annotations = entry.get("annotations") or {}
    ref_name = annotations.get(REF_NAME)
    if repository is not None:
        tag = ref_name.rpartition(":")[2] if isinstance(ref_name, str) else None
        return validate_name(repository), validate_tag(tag) if tag else None
    if isinstance(ref_name, str) and ":" in ref_name:
        name, _, tag = ref_name.rpartition(":")
        return validate_name(name), validate_tag(tag)
    named = annotations.get(REPOSITORY)
    if isinstance(named, str):
        return validate_name(named), None
    raise LayoutError(
        f"{layout.root}: entry {entry.get('digest')} names no repository "
        f"(ref.name {ref_name!r}); pass --repository"
    )


async def _import_manifest(
    repository: Repository,
    layout: OciLayout,
    digest: Digest,
    media_type: object,
    copy: _Copy,
    result: Transferred,
) -> None:
    body = await layout.read_blob(digest)
    manifest = await asyncio.to_thread(
        parse_manifest, body, media_type if isinstance(media_type, str) else None
    )
    for child in manifest.manifests:
        await _import_manifest(repository, layout, child.digest, child.media_type, copy, result)
    for descriptor in manifest.blob_references:
        blob = descriptor.digest
        try:
            await repository.blobs.stat(blob)
        except BlobUnknown:
            stored = await repository.uploads.upload(blob, layout.blob_chunks(blob))
            result.blobs += 1
            result.bytes += stored.size
            copy.progress(f"{repository.name}: {blob} ({stored.size} bytes)")
        else:
            result.skipped += 1
    await repository.manifests.put(body, manifest.media_type, digest)
