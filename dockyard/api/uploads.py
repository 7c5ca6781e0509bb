"""``/v2/<name>/blobs/uploads/[<id>]``: blob upload sessions.

``POST`` opens a session (or uploads monolithically with ``?digest=``, or mounts with
``?mount=&from=``); ``PATCH`` appends a chunk; ``GET`` reports progress; ``PUT
?digest=`` completes it; ``DELETE`` cancels it. Every URL handed out carries the
session's signed state (see ``upload_state``); bodies stream straight into the store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from urllib.parse import quote

from starlette.responses import Response

from dockyard.api.context import RequestContext
from dockyard.api.errors import ChunkTooSmall, error_response
from dockyard.api.ranges import parse_content_range, upload_range
from dockyard.api.responses import empty
from dockyard.api.upload_state import UploadState
from dockyard.auth.base import Access
from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.errors import (
    BlobUnknown,
    DigestInvalid,
    NameInvalid,
    NameUnknown,
    RangeInvalid,
    SizeInvalid,
    UploadOffsetMismatch,
)
from dockyard.reference import is_valid_name


async def post(ctx: RequestContext) -> Response:
    """Open a session (202), upload monolithically (201), or mount a blob (201)."""
    mount = ctx.query("mount")
    if mount is not None:
        mounted = await _mount(ctx, mount, ctx.query("from"))
        if mounted is not None:
            return _created(ctx, mounted)
    else:
        digest_param = ctx.query("digest")
        if digest_param is not None:
            digest = Digest.parse(digest_param)
            descriptor = await ctx.repository.uploads.upload(digest, _final_body(ctx))
            return _created(ctx, descriptor)
    status = await ctx.repository.uploads.create()
    headers = _session_headers(ctx, status.id, status.offset, status.started_at)
    if ctx.settings.chunk_min_length > 0:
        headers["OCI-Chunk-Min-Length"] = str(ctx.settings.chunk_min_length)
    return empty(202, headers)


async def get(ctx: RequestContext) -> Response:
    """204 with the session's ``Range`` and a fresh ``Location``; 404 once it is gone."""
    state = _state(ctx)
    status = await ctx.repository.uploads.status(ctx.arg)
    headers = _session_headers(ctx, status.id, status.offset, status.started_at, state.short_chunk)
    return empty(204, headers)


async def patch(ctx: RequestContext) -> Response:
    """Append a chunk: 202 with the new ``Range``, or 416 with the current one.

    With an ``OCI-Chunk-Min-Length`` advertised, every chunk but the last must be at
    least that long: a chunk after a shorter one is refused (416, the session unchanged),
    since the shorter one claimed to be the last.
    """
    state = _state(ctx)
    uploads = ctx.repository.uploads
    content_range = ctx.header("content-range")
    try:
        _check_after_short_chunk(ctx, state)
        if content_range is None:
            offset = (await uploads.status(ctx.arg)).offset
            limit = None
        else:
            offset, limit = _chunk_bounds(ctx, content_range)
        status = await uploads.append(ctx.arg, offset, ctx.body(limit))
    except (UploadOffsetMismatch, RangeInvalid, ChunkTooSmall) as exc:
        return await _range_refused(ctx, state, exc)
    length, minimum = status.offset - offset, ctx.settings.chunk_min_length
    # An empty PATCH adds no chunk: whether the last one was short stays as it was.
    short = state.short_chunk if length == 0 else minimum > 0 and length < minimum
    headers = _session_headers(ctx, status.id, status.offset, status.started_at, short)
    return empty(202, headers)


def _check_after_short_chunk(ctx: RequestContext, state: UploadState) -> None:
    if state.short_chunk and ctx.settings.chunk_min_length > 0:
        raise ChunkTooSmall(
            "the previous chunk was shorter than OCI-Chunk-Min-Length "
            f"({ctx.settings.chunk_min_length} bytes), so it must have been the last"
        )


async def put(ctx: RequestContext) -> Response:
    """Complete the session with ``?digest=`` and optional final data: 201 at the blob."""
    state = _state(ctx)
    digest_param = ctx.query("digest")
    if digest_param is None:
        raise DigestInvalid("the digest parameter is required to complete an upload")
    digest = Digest.parse(digest_param)
    uploads = ctx.repository.uploads
    content_range = ctx.header("content-range")
    if content_range is not None or (_content_length(ctx) or 0) > 0:
        try:
            _check_after_short_chunk(ctx, state)
        except ChunkTooSmall as exc:
            return await _range_refused(ctx, state, exc)
    if content_range is not None:
        try:
            start, _ = _chunk_bounds(ctx, content_range)
            current = await uploads.status(ctx.arg)
            if start != current.offset:
                raise UploadOffsetMismatch(current.offset, start)
        except (UploadOffsetMismatch, RangeInvalid) as exc:
            return await _range_refused(ctx, state, exc)
    descriptor = await uploads.commit(ctx.arg, digest, None, _final_body(ctx))
    return _created(ctx, descriptor)


async def delete(ctx: RequestContext) -> Response:
    """204 once the session and its data are discarded."""
    _state(ctx)
    await ctx.repository.uploads.cancel(ctx.arg)
    return empty(204)


# --- helpers ------------------------------------------------------------------------------


def _state(ctx: RequestContext) -> UploadState:
    return ctx.services.codec.decode(ctx.query("_state"), ctx.name, ctx.arg)


def _content_length(ctx: RequestContext) -> int | None:
    raw = ctx.header("content-length")
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise SizeInvalid("Content-Length is not a valid length")
    return int(raw)


def _chunk_bounds(ctx: RequestContext, content_range: str) -> tuple[int, int]:
    """Where a chunk starts and how long it is, checked against ``Content-Length``."""
    start, end = parse_content_range(content_range)
    length = end - start + 1
    declared = _content_length(ctx)
    if declared is not None and declared != length:
        raise RangeInvalid(
            f"Content-Range covers {length} bytes but Content-Length says {declared}"
        )
    return start, length


def _final_body(ctx: RequestContext) -> AsyncIterator[bytes] | None:
    # A zero Content-Length means no final chunk; anything else (or chunked) streams.
    return None if _content_length(ctx) == 0 else ctx.body()


async def _range_refused(
    ctx: RequestContext,
    state: UploadState,
    exc: UploadOffsetMismatch | RangeInvalid | ChunkTooSmall,
) -> Response:
    """416 with the session's current ``Range`` so the client resumes from there."""
    if isinstance(exc, UploadOffsetMismatch):
        offset = exc.expected
        started_at = state.started_at
    else:
        status = await ctx.repository.uploads.status(ctx.arg)
        offset, started_at = status.offset, status.started_at
    headers = _session_headers(ctx, ctx.arg, offset, started_at, state.short_chunk)
    return error_response(exc, headers)


def _session_headers(
    ctx: RequestContext,
    upload_id: str,
    offset: int,
    started_at: datetime,
    short_chunk: bool = False,
) -> dict[str, str]:
    state = UploadState(ctx.name, upload_id, offset, started_at, short_chunk)
    token = ctx.services.codec.encode(state)
    location = ctx.url(f"/v2/{ctx.name}/blobs/uploads/{upload_id}")
    return {
        "Location": f"{location}?_state={quote(token, safe='')}",
        "Range": upload_range(offset),
        "Docker-Upload-UUID": upload_id,
    }


def _created(ctx: RequestContext, descriptor: Descriptor) -> Response:
    digest = str(descriptor.digest)
    return empty(
        201,
        {
            "Location": ctx.url(f"/v2/{ctx.name}/blobs/{digest}"),
            "Docker-Content-Digest": digest,
        },
    )


async def _mount(ctx: RequestContext, mount: str, source: str | None) -> Descriptor | None:
    """Link the blob from ``source`` if the caller may read it there; else None.

    A malformed ``mount`` digest is the client's error (``DIGEST_INVALID``, as on every
    endpoint); every other failure falls back to an ordinary upload session, as the
    spec asks.
    """
    digest = Digest.parse(mount)
    if not source or not is_valid_name(source):
        return None
    if not await ctx.may(Access("repository", source, ("pull",))):
        return None
    try:
        return await ctx.repository.blobs.mount(digest, source)
    except (BlobUnknown, NameUnknown, NameInvalid):
        return None
