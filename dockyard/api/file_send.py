"""Sending bytes of a local file as an ASGI response body, from reused page-aligned reads.

Why not ``http.response.pathsend``: granian (2.8.9) answers it by reading the file in
128 KiB pieces, each on a blocking thread that the writer waits for, and never with
``sendfile``; profiled on a 256 MiB blob, about a third of its CPU went to switching
threads. Reading 1 MiB pieces one ahead in a worker thread, while granian writes the
previous one, measured about 1.1x pathsend's throughput (1.07-1.29x over nine runs
interleaved on the same blob) at up to 10% less CPU on the 2-core machine the project
is benchmarked on, and it also serves ranges, which pathsend cannot express.

Two details carry most of that gain:

* pieces are read into two buffers reused for the whole response: a fresh buffer per
  piece, given pages of its own by the allocator (``mallopt`` in ``dockyard.server``
  mmapped every buffer from 128 KiB on when this was measured), faults in every page
  of it (64 faults per 256 KiB), which doubled the CPU;
* each read lands at a file offset congruent, modulo the page size, with its buffer's
  address. A bytearray of that size starts 16 bytes into a page, and the kernel's copy
  from a page-aligned file offset to an address just past a page boundary runs at a
  quarter of its speed on this machine's CPU (a false store-to-load dependency).

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

#: Bytes per read (up to a page more); two pieces are in this module's memory at a time.
PIECE_SIZE: Final = 1 << 20
_PAGE: Final = mmap.PAGESIZE


class LocalFileResponse(Response):
    """Bytes ``[offset, offset + length)`` of a local file, read in a worker thread.

    The file is opened before the response starts, so a file that has gone answers as
    a failure before the first byte, and so does one shorter than ``length`` if it fits
    in one piece; a longer one found short raises mid-body (the server then cuts the
    connection and the client sees a short body). A client that goes away stops the
    reading: granian keeps accepting bodies it can no longer send.
    """

    def __init__(
        self,
        path: str,
        offset: int,
        length: int,
        status_code: int,
        headers: dict[str, str],
        media_type: str,
        piece_size: int = PIECE_SIZE,
    ) -> None:
        super().__init__(None, status_code, headers, media_type)
        self.path = path
        self.offset = offset
        self.length = length
        self.piece_size = piece_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.length <= self.piece_size:
            # Small blobs (configs, layers of small images): one thread hop, no buffers.
            body = await asyncio.to_thread(_read_file, self.path, self.length, self.offset)
            await send(self._start())
            await send({"type": "http.response.body", "body": body})
            return
        fd = await asyncio.to_thread(os.open, self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            await send(self._start())
            await self._send_pieces(fd, receive, send)
        finally:
            os.close(fd)

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


def _read_file(path: str, count: int, position: int) -> bytes:
    """``count`` bytes of the file at ``path`` from ``position``; it must hold them all."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.pread(fd, count, position)
        while len(data) < count:
            more = os.pread(fd, count - len(data), position + len(data))
            if not more:
                raise RuntimeError("the blob's file is shorter than its size")
            data += more
        return data
    finally:
        os.close(fd)
