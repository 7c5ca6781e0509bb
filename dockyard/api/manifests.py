"""``/v2/<name>/manifests/<reference>``: pull, check, push and delete manifests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast

from starlette.responses import Response

from dockyard.api.context import RequestContext
from dockyard.api.responses import empty
from dockyard.descriptor import Descriptor
from dockyard.errors import ManifestTooLarge, ManifestUnknown, SizeInvalid, TagInvalid, Unsupported
from dockyard.manifest import Manifest
from dockyard.reference import TAG_MAX_LENGTH, Reference, validate_tag
from dockyard.storage.protocols import Repository


async def _manifest(repository: Repository, reference: Reference) -> Manifest:
    """The manifest a reference names, by the store's one-step tag read where it has one."""
    if reference.digest is not None:
        return await repository.manifests.get(reference.digest)
    assert reference.tag is not None
    get_tagged = getattr(repository.manifests, "get_tagged", None)
    if get_tagged is not None:
        return await cast(Callable[[str], Awaitable[Manifest]], get_tagged)(reference.tag)
    return await repository.manifests.get(await repository.tags.resolve(reference.tag))


def _existing(ctx: RequestContext) -> Reference:
    """The reference of a read or delete: one that is not a valid tag names nothing.

    The conformance suite asks for ``.INVALID_MANIFEST_NAME`` and expects 404, as the
    reference registry's router answers; a malformed digest stays ``DIGEST_INVALID``.
    """
    try:
        return Reference.parse(ctx.arg)
    except TagInvalid:
        raise ManifestUnknown(f"manifest {ctx.arg[:TAG_MAX_LENGTH]!r} is unknown") from None


def _not_modified(ctx: RequestContext, etag: str) -> bool:
    tags = ctx.header("if-none-match")
    return tags is not None and etag in tags


async def get(ctx: RequestContext) -> Response:
    """The manifest's bytes exactly as pushed, typed with its stored media type."""
    manifest = await _manifest(ctx.repository, _existing(ctx))
    digest_text = str(manifest.digest)
    etag = f'"{digest_text}"'
    if _not_modified(ctx, etag):
        return empty(304, {"ETag": etag})
    return Response(
        manifest.body,
        headers={"Docker-Content-Digest": digest_text, "ETag": etag},
        media_type=manifest.media_type,
    )


async def _descriptor(repository: Repository, reference: Reference) -> Descriptor:
    """The descriptor of the manifest a reference names (see ``_manifest``)."""
    if reference.digest is not None:
        return await repository.manifests.stat(reference.digest)
    assert reference.tag is not None
    stat_tagged = getattr(repository.manifests, "stat_tagged", None)
    if stat_tagged is not None:
        return await cast(Callable[[str], Awaitable[Descriptor]], stat_tagged)(reference.tag)
    return await repository.manifests.stat(await repository.tags.resolve(reference.tag))


async def head(ctx: RequestContext) -> Response:
    """200 with the manifest's type, length and digest, and no body."""
    descriptor = await _descriptor(ctx.repository, _existing(ctx))
    digest_text = str(descriptor.digest)
    return Response(
        b"",
        headers={
            "Docker-Content-Digest": digest_text,
            "ETag": f'"{digest_text}"',
            "Content-Length": str(descriptor.size),
            "Content-Type": descriptor.media_type,
        },
    )


async def put(ctx: RequestContext) -> Response:
    """Store a manifest by tag or digest (plus any ``?tag=``): 201 at its digest URL."""
    reference = Reference.parse(ctx.arg)
    extra_tags = [validate_tag(tag) for tag in ctx.request.query_params.getlist("tag")]
    limit = ctx.settings.max_manifest_size
    declared = ctx.header("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise ManifestTooLarge(int(declared), limit)
    try:
        body = await ctx.read_body(limit)
    except SizeInvalid:
        raise ManifestTooLarge(limit + 1, limit) from None
    content_type = ctx.header("content-type")
    media_type = content_type.split(";", 1)[0].strip() if content_type else None
    repository = ctx.repository
    manifest = await repository.manifests.put(body, media_type or None, reference.digest)
    if reference.tag is not None:
        await repository.tags.tag(reference.tag, manifest.digest)
    for tag in extra_tags:
        await repository.tags.tag(tag, manifest.digest)
    digest = str(manifest.digest)
    response = empty(
        201,
        {
            "Location": ctx.url(f"/v2/{ctx.name}/manifests/{digest}"),
            "Docker-Content-Digest": digest,
        },
    )
    if manifest.subject is not None:
        response.headers.append("OCI-Subject", str(manifest.subject.digest))
    for tag in extra_tags:
        response.headers.append("OCI-Tag", tag)
    return response


async def delete(ctx: RequestContext) -> Response:
    """202: by digest the manifest and its tags go; by tag only the tag goes."""
    if not ctx.settings.delete_enabled:
        raise Unsupported("deleting manifests is disabled on this registry")
    reference = _existing(ctx)
    repository = ctx.repository
    if reference.digest is not None:
        await repository.manifests.delete(reference.digest)
    else:
        assert reference.tag is not None
        await repository.tags.untag(reference.tag)
    return empty(202)
