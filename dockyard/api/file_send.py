"""Sending bytes of a file a driver opened as an ASGI response body, from reused reads.

Why not ``http.response.pathsend``: granian answers it with small reads, each on a
blocking thread the writer waits for, and it cannot express a range. Here the next
1 MiB piece is read in a worker thread while the server writes the previous one (the
comparison is in ``bench/``).

Two details carry most of the gain:

* pieces are read into two buffers reused for the whole response: a fresh buffer per
  piece would fault in every one of its pages;
* each read lands at a file offset congruent, modulo the page size, with its buffer's
  address: the kernel copies slowly to an address just past a page boundary.

A buffer is handed to the server as the body and refilled after ``send`` returns only
if nothing but this module still refers to it: granian copies a bytearray body when it
is sent; a server or test transport that kept the object instead gets a fresh buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import mmap
import os
import sys
from typing import Final

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from dockyard.storage.driver.base import OpenFile

#: Bytes per read (up to a page more); two pieces are in this module's memory at a time.
PIECE_SIZE: Final = 1 << 20
_PAGE: Final = mmap.PAGESIZE


class LocalFileResponse(Response):
    """Bytes ``[offset, offset + length)`` of a file a driver opened, read in worker threads.

    The response owns the file and closes it when done. A file shorter than ``length``
    answers as a failure before the first byte if the range fits in two pieces; a longer
    one found short raises mid-body (the server then cuts the connection and the client
    sees a short body). A client that goes away stops the reading: granian keeps
    accepting bodies it can no longer send.
    """

    def __init__(
        self,
        file: OpenFile,
        offset: int,
        length: int,
        status_code: int,
        headers: dict[str, str],
        media_type: str,
        piece_size: int = PIECE_SIZE,
    ) -> None:
        super().__init__(None, status_code, headers, media_type)
        self.file = file
        self.offset = offset
        self.length = length
        self.piece_size = piece_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            fd = self.file.fd
            if self.length <= 2 * self.piece_size:
                # Small blobs (configs, layers of small images): one thread hop, no buffers.
                # Up to two pieces, reused buffers gain nothing: both would be fresh, and
                # filling them costs more than one read into bytes of the exact size.
                body = await _waited(_read_range(fd, self.length, self.offset))
                await send(self._start())
                await send({"type": "http.response.body", "body": body})
                return
            await send(self._start())
            await self._send_pieces(fd, receive, send)
        finally:
            self.file.close()

    def _start(self) -> Message:
        return {
            "type": "http.response.start",
            "status": self.status_code,
            "headers": self.raw_headers,
        }

    async def _send_pieces(self, fd: int, receive: Receive, send: Send) -> None:
        buffers = _Buffers(self.piece_size)
        position, end = self.offset, self.offset + self.length
        gone = asyncio.ensure_future(_disconnect(receive))
        # A short first piece brings the reads that follow to page-congruent offsets.
        head = (buffers.page_offset(1) - position) % _PAGE
        slot = 0 if head else 1
        buffer = buffers.take(slot)
        pending: asyncio.Future[int] | None = _read(
            fd, buffer, min(head or len(buffer), end - position), position
        )
        try:
            while pending is not None:
                count = await pending
                piece = buffer if count == len(buffer) else bytes(memoryview(buffer)[:count])
                position += count
                pending = None
                if position < end and not gone.done():
                    slot ^= 1
                    buffer = buffers.take(slot)
                    pending = _read(fd, buffer, min(len(buffer), end - position), position)
                await send(
                    {"type": "http.response.body", "body": piece, "more_body": position < end}
                )
                del piece
        finally:
            gone.cancel()
            if pending is not None:
                # Its thread still reads from fd, which the caller closes next.
                with contextlib.suppress(BaseException):
                    await asyncio.wait([pending])


async def _disconnect(receive: Receive) -> None:
    """Return once the client has gone (or the server says the exchange is over)."""
    while (await receive())["type"] != "http.disconnect":
        pass


class _Buffers:
    """The two read buffers of one response, replaced when someone else holds one.

    Pieces alternate between them, each read starting at a file offset congruent with
    its buffer's address modulo the page size. So that one piece leads to the other
    buffer's page offset, their lengths differ from ``size`` by less than a page (cut
    from the end, which leaves the bytes where they are).
    """

    def __init__(self, size: int) -> None:
        self._buffers = [bytearray(size + _PAGE), bytearray(size + _PAGE)]
        self._offsets = [_page_offset(self._buffers[0]), _page_offset(self._buffers[1])]
        shift = (self._offsets[1] - self._offsets[0]) % _PAGE
        del self._buffers[0][size + shift :]
        del self._buffers[1][size + _PAGE - shift :]
        #: The count ``_references`` gives while only this object holds a buffer, taken
        #: rather than assumed: what ``sys.getrefcount`` counts varies between versions.
        self._unshared = self._references(0)

    def page_offset(self, slot: int) -> int:
        """Where in a page buffer ``slot``'s bytes start."""
        return self._offsets[slot]

    def take(self, slot: int) -> bytearray:
        """Buffer ``slot``, or a new one if the last body sent from it is still held."""
        if self._references(slot) > self._unshared:
            self._buffers[slot] = bytearray(len(self._buffers[slot]))
        return self._buffers[slot]

    def _references(self, slot: int) -> int:
        buffer = self._buffers[slot]
        return sys.getrefcount(buffer)


def _page_offset(buffer: bytearray) -> int:
    view = ctypes.c_char.from_buffer(buffer)
    try:
        return ctypes.addressof(view) % _PAGE
    finally:
        del view


def _read(fd: int, buffer: bytearray, count: int, position: int) -> asyncio.Future[int]:
    return asyncio.ensure_future(asyncio.to_thread(_read_exactly, fd, buffer, count, position))


def _read_exactly(fd: int, buffer: bytearray, count: int, position: int) -> int:
    """Fill ``buffer[:count]`` from ``position``; the file must hold that many bytes."""
    view = memoryview(buffer)
    try:
        done = 0
        while done < count:
            got = os.preadv(fd, [view[done:count]], position + done)
            if got == 0:
                raise RuntimeError("the blob's file is shorter than its size")
            done += got
        return done
    finally:
        view.release()


async def _waited(future: asyncio.Future[bytes]) -> bytes:
    """The future's result; a cancelled caller still waits for its thread to end, so that
    the file it reads is not closed under it."""
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise


def _read_range(fd: int, count: int, position: int) -> asyncio.Future[bytes]:
    return asyncio.ensure_future(asyncio.to_thread(_read_bytes, fd, count, position))


def _read_bytes(fd: int, count: int, position: int) -> bytes:
    """``count`` bytes of the file from ``position``; it must hold them all."""
    data = os.pread(fd, count, position)
    while len(data) < count:
        more = os.pread(fd, count - len(data), position + len(data))
        if not more:
            raise RuntimeError("the blob's file is shorter than its size")
        data += more
    return data
