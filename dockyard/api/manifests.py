"""``/v2/<name>/manifests/<reference>``: pull, check, push and delete manifests."""

from __future__ import annotations

from starlette.responses import Response

from dockyard.api.context import RequestContext
from dockyard.api.responses import (
    CONTENT_LENGTH,
    CONTENT_TYPE,
    DOCKER_CONTENT_DIGEST,
    ETAG,
    PreparedResponse,
    empty,
)
from dockyard.digest import Digest
from dockyard.errors import (
    ManifestTooLarge,
    ManifestUnknown,
    SizeInvalid,
    TagInvalid,
    Unsupported,
)
from dockyard.reference import TAG_MAX_LENGTH, Reference, validate_tag


def _existing(ctx: RequestContext) -> Digest | str:
    """The digest or tag of a read or delete (a plain union rather than a ``Reference``:
    this runs on every pull). Tags are validated by the stores; see ``_unknown``."""
    arg = ctx.arg
    return Digest.parse(arg) if ":" in arg else arg


def _unknown(ctx: RequestContext) -> ManifestUnknown:
    """What a tag that is not valid names: nothing. The conformance suite asks for
    ``.INVALID_MANIFEST_NAME`` and expects 404, as the reference registry's router
    answers; a malformed digest stays ``DIGEST_INVALID``."""
    return ManifestUnknown(f"manifest {ctx.arg[:TAG_MAX_LENGTH]!r} is unknown")


async def get(ctx: RequestContext) -> Response:
    """The manifest's bytes exactly as pushed, typed with its stored media type."""
    try:
        manifest = await ctx.repository.manifests.get(_existing(ctx))
    except TagInvalid:
        raise _unknown(ctx) from None
    digest = str(manifest.digest).encode()
    etag = b'"%s"' % digest
    if_none_match = ctx.raw_header(b"if-none-match")
    if if_none_match is not None and etag in if_none_match:
        return PreparedResponse(304, [(ETAG, etag)])
    body = manifest.body
    return PreparedResponse(
        200,
        [
            (DOCKER_CONTENT_DIGEST, digest),
            (ETAG, etag),
            (CONTENT_LENGTH, b"%d" % len(body)),
            (CONTENT_TYPE, manifest.media_type.encode("latin-1")),
        ],
        body,
    )


async def head(ctx: RequestContext) -> Response:
    """200 with the manifest's type, length and digest, and no body."""
    try:
        descriptor = await ctx.repository.manifests.stat(_existing(ctx))
    except TagInvalid:
        raise _unknown(ctx) from None
    digest = str(descriptor.digest).encode()
    return PreparedResponse(
        200,
        [
            (DOCKER_CONTENT_DIGEST, digest),
            (ETAG, b'"%s"' % digest),
            (CONTENT_LENGTH, b"%d" % descriptor.size),
            (CONTENT_TYPE, descriptor.media_type.encode("latin-1")),
        ],
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
    if isinstance(reference, Digest):
        await repository.manifests.delete(reference)
        return empty(202)
    try:
        await repository.tags.untag(reference)
    except TagInvalid:
        raise _unknown(ctx) from None
    return empty(202)
