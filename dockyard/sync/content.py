"""A blob the store opened, as a stream of bytes, whatever form the store gave it in."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Final

from dockyard.storage.protocols import BlobContent

#: Bytes read from a local file at a time (in a worker thread).
READ_SIZE: Final = 1 << 20


async def content_chunks(content: BlobContent, offset: int = 0) -> AsyncIterator[bytes]:
    """The bytes of ``content`` from ``offset`` (of a file; a stream starts where it was
    opened). The file, if any, is closed at the end."""
    if content.stream is not None:
        async for chunk in content.stream:
            yield chunk
        return
    file = content.file
    if file is None:
        raise RuntimeError("the store gave neither a stream nor a file")
    try:
        position = offset
        while True:
            chunk = await asyncio.to_thread(os.pread, file.fd, READ_SIZE, position)
            if not chunk:
                return
            position += len(chunk)
            yield chunk
    finally:
        file.close()
