"""``/v2/<name>/blobs/<digest>``: download (whole or a range), existence check, delete."""

from __future__ import annotations

from typing import Final

from starlette.responses import Response, StreamingResponse

from dockyard.api.context import RequestContext
from dockyard.api.errors import error_response
from dockyard.api.file_send import LocalFileResponse
from dockyard.api.ranges import ByteRange, RangeNotSatisfiable, parse_range
from dockyard.api.responses import (
    CONTENT_LENGTH,
    CONTENT_TYPE,
    DOCKER_CONTENT_DIGEST,
    ETAG,
    PreparedResponse,
    empty,
)
from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.errors import Unsupported
from dockyard.storage.protocols import BlobContent

OCTET_STREAM: Final = "application/octet-stream"
#: Blobs are addressed by content, so a client may keep them for good.
_CACHE_CONTROL: Final = "max-age=31536000"
_OCTET_STREAM_TYPE: Final = (CONTENT_TYPE, OCTET_STREAM.encode())
_ACCEPT_RANGES: Final = (b"accept-ranges", b"bytes")
_CACHE_CONTROL_HEADER: Final = (b"cache-control", _CACHE_CONTROL.encode())


def _headers(descriptor: Descriptor, length: int) -> dict[str, str]:
    digest = str(descriptor.digest)
    return {
        "Docker-Content-Digest": digest,
        "Content-Length": str(length),
        "Content-Type": OCTET_STREAM,
        "Accept-Ranges": "bytes",
        "ETag": f'"{digest}"',
        "Cache-Control": _CACHE_CONTROL,
    }


def _not_modified(ctx: RequestContext, descriptor: Descriptor) -> bool:
    tags = ctx.header("if-none-match")
    return tags is not None and f'"{descriptor.digest}"' in tags


async def head(ctx: RequestContext) -> Response:
    """200 with the blob's length and digest and no body; 404 ``BLOB_UNKNOWN``."""
    descriptor = await ctx.repository.blobs.stat(Digest.parse(ctx.arg))
    digest = str(descriptor.digest).encode()
    etag = b'"%s"' % digest
    if_none_match = ctx.raw_header(b"if-none-match")
    if if_none_match is not None and etag in if_none_match:
        return PreparedResponse(304, [(ETAG, etag)])
    # The same headers as ``_headers`` builds for a GET, written out as ASGI sends them.
    return PreparedResponse(
        200,
        [
            (DOCKER_CONTENT_DIGEST, digest),
            (CONTENT_LENGTH, b"%d" % descriptor.size),
            _OCTET_STREAM_TYPE,
            _ACCEPT_RANGES,
            (ETAG, etag),
            _CACHE_CONTROL_HEADER,
        ],
    )


async def get(ctx: RequestContext) -> Response:
    """The blob's bytes: whole (200), one range (206), or a redirect to the backend (307)."""
    digest = Digest.parse(ctx.arg)
    blobs = ctx.repository.blobs
    redirect = ctx.settings.redirect_enabled
    range_header = ctx.header("range")
    byte_range: ByteRange | None = None
    if range_header is not None:
        descriptor = await blobs.stat(digest)
        try:
            byte_range = parse_range(range_header, descriptor.size)
        except RangeNotSatisfiable as exc:
            return error_response(exc, {"Content-Range": f"bytes */{exc.size}"})
    if byte_range is None:
        content = await blobs.open(digest, allow_redirect=redirect, method="GET")
    else:
        content = await blobs.open(
            digest, byte_range.start, byte_range.length, allow_redirect=redirect, method="GET"
        )
    descriptor = content.descriptor
    if content.redirect_url is not None:
        return empty(307, {"Location": content.redirect_url, "Docker-Content-Digest": str(digest)})
    if _not_modified(ctx, descriptor):
        if content.file is not None:
            content.file.close()
        return empty(304, {"ETag": f'"{descriptor.digest}"'})
    if byte_range is None:
        return _whole(content, _headers(descriptor, descriptor.size))
    headers = _headers(descriptor, byte_range.length)
    headers["Content-Range"] = byte_range.content_range
    return _part(content, byte_range, headers)


async def delete(ctx: RequestContext) -> Response:
    """202 once the blob is unlinked from the repository; 405 when deletes are disabled."""
    if not ctx.settings.delete_enabled:
        raise Unsupported("deleting blobs is disabled on this registry")
    await ctx.repository.blobs.delete(Digest.parse(ctx.arg))
    return empty(202)


def _whole(content: BlobContent, headers: dict[str, str]) -> Response:
    if content.file is not None:
        size = content.descriptor.size
        return LocalFileResponse(content.file, 0, size, 200, headers, OCTET_STREAM)
    if content.stream is not None:
        return StreamingResponse(content.stream, headers=headers, media_type=OCTET_STREAM)
    raise RuntimeError("blob store returned neither a stream, a file nor a URL")


def _part(content: BlobContent, byte_range: ByteRange, headers: dict[str, str]) -> Response:
    if content.file is not None:
        return LocalFileResponse(
            content.file, byte_range.start, byte_range.length, 206, headers, OCTET_STREAM
        )
    if content.stream is not None:
        stream = content.stream
    else:
        raise RuntimeError("blob store returned neither a stream, a file nor a URL")
    return StreamingResponse(stream, status_code=206, headers=headers, media_type=OCTET_STREAM)
