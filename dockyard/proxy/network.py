"""The sockets the upstream client talks over: asyncio protocols read into one buffer.

httpcore's own backend reads through anyio, which gives each read a cancel scope and
hands over whatever one ``recv`` returned (at most 256 KiB with uvloop), so a large blob
crosses httpcore, h11 and httpx in thousands of small pieces, each costing the same
Python work. ``BufferedNetworkBackend`` reads each connection into a buffer of its own
(``recv_into``, no allocation per read): a ``read`` takes everything that arrived since
the last one, up to what was asked for (1 MiB), in one copy, so the fewer, larger pieces
pass every layer above once each. A full buffer pauses reading from the socket until it
is read, so a slow reader holds the upstream back rather than growing memory.

h11 then takes each piece into its buffer and hands it on whole (``_extract_at_most``)
rather than in two more copies.

It is an ``httpcore.AsyncNetworkBackend`` (whose methods take a ``timeout``, hence the
``noqa: ASYNC109``): connection pooling, TLS (``loop.start_tls``), HTTP/1.1 parsing,
redirects and authentication stay httpx's and httpcore's.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterable
from typing import Any, Final, cast

import h11._receivebuffer
import httpcore
import httpx


def _extract_at_most(self: h11._receivebuffer.ReceiveBuffer, count: int) -> bytearray | None:
    """h11's ``ReceiveBuffer.maybe_extract_at_most``, handing over the whole buffer
    rather than two copies of it when all of it is asked for (a body's bytes, as a rule).

    h11 slices the buffer once to see whether it is empty and once more to return it:
    two of the five copies each byte of a blob took in the mirror. What it returns is
    the same, a ``bytearray`` the caller owns; a count short of the buffer takes h11's
    own path.
    """
    data: bytearray = self._data
    if not data:
        return None
    if count < len(data):
        return self._extract(count)
    self._data = bytearray()
    self._next_line_search = 0
    self._multiple_lines_search = 0
    return data


# Only over the h11 this was written against: another keeps its own (slower) method.
if all(
    hasattr(h11._receivebuffer.ReceiveBuffer(), attribute)
    for attribute in ("_data", "_extract", "_next_line_search", "_multiple_lines_search")
):
    h11._receivebuffer.ReceiveBuffer.maybe_extract_at_most = _extract_at_most  # type: ignore[method-assign]

#: Bytes a connection may hold unread before it stops reading its socket.
BUFFER_SIZE: Final = 1 << 20
#: The least free room handed to the socket for one ``recv_into``: with less, reading
#: pauses until the buffer is read.
_MIN_ROOM: Final = 64 << 10

#: httpx's default limits, named: each idle connection keeps its buffer.
UPSTREAM_LIMITS: Final = httpx.Limits(
    max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0
)

#: A ``setsockopt`` call's arguments, as httpcore passes them.
SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class _Reader(asyncio.BufferedProtocol):
    """Receives a connection's bytes into ``buffer`` until ``read`` takes them.

    The buffer lives as long as the connection: at most 20 idle connections are kept per
    upstream, for 5 seconds (``UPSTREAM_LIMITS``), so at most 20 MiB of buffers per
    upstream outlive their downloads.
    """

    def __init__(self) -> None:
        self.buffer = bytearray(BUFFER_SIZE)
        self.view = memoryview(self.buffer)
        self.filled = 0
        self.eof = False
        self.error: BaseException | None = None
        self.transport: asyncio.Transport | None = None
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None

    # -- protocol callbacks ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio's classes.
        self.transport = cast(asyncio.Transport, transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view[self.filled :]

    def buffer_updated(self, nbytes: int) -> None:
        self.filled += nbytes
        if BUFFER_SIZE - self.filled < _MIN_ROOM and not self._paused and self.transport:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        if exc is not None:
            self.error = exc
        self._wake()
        # A writer waiting for room finds the connection closed (``write`` raises).
        self.resume_writing()

    def pause_writing(self) -> None:
        if self._writable is None or self._writable.done():
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    # -- for the stream --------------------------------------------------------------------

    def take(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` of what arrived, in one copy."""
        size = min(self.filled, max_bytes)
        data = bytes(self.view[:size])
        self.filled -= size
        if self.filled:
            self.view[: self.filled] = self.view[size : size + self.filled]
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    async def readable(self) -> None:
        """Wait until bytes, the end or an error arrived."""
        if self.filled or self.eof:
            return
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def drained(self) -> None:
        if self._writable is not None:
            await self._writable

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class BufferedNetworkStream(httpcore.AsyncNetworkStream):
    """One connection, read through its ``_Reader``."""

    def __init__(self, transport: asyncio.Transport, reader: _Reader) -> None:
        self._transport = transport
        self._reader = reader

    @property
    def buffered(self) -> int:
        """Bytes received and not read yet (at most ``BUFFER_SIZE``)."""
        return self._reader.filled

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        reader = self._reader
        if not reader.filled and not reader.eof:
            try:
                async with asyncio.timeout(timeout):
                    await reader.readable()
            except TimeoutError:
                raise httpcore.ReadTimeout("the upstream sent nothing in time") from None
        if reader.filled:
            return reader.take(max_bytes)
        if reader.error is not None:
            raise httpcore.ReadError(str(reader.error) or type(reader.error).__name__)
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        if not buffer:
            return
        if self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        self._transport.write(buffer)
        try:
            async with asyncio.timeout(timeout):
                await self._reader.drained()
        except TimeoutError:
            raise httpcore.WriteTimeout("the upstream took nothing in time") from None
        if self._transport.is_closing():
            raise httpcore.WriteError("the connection closed while writing")

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._reader, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError:
            self._transport.close()
            raise httpcore.ConnectTimeout("the TLS handshake took too long") from None
        except (OSError, ssl.SSLError) as error:
            self._transport.close()
            raise httpcore.ConnectError(str(error)) from None
        if transport is None:
            raise httpcore.ConnectError("the TLS handshake failed")
        self._reader.transport = transport
        return BufferedNetworkStream(transport, self._reader)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # Bytes or an end arriving on an idle connection: it cannot be reused.
            return bool(self._reader.filled or self._reader.eof)
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        return self._transport.get_extra_info(info)


class BufferedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Opens connections read through ``BufferedNetworkStream`` (TCP or a Unix socket)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                transport, reader = await loop.create_connection(
                    _Reader, host, port, local_addr=local
                )
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"no connection to {host}:{port} in time") from None
        except OSError as error:
            raise httpcore.ConnectError(str(error)) from None
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for option in socket_options or ():
                sock.setsockopt(*option)
        return BufferedNetworkStream(transport, reader)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, reader = await loop.create_unix_connection(_Reader, path)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"no connection to {path} in time") from None
        except OSError as error:
            raise httpcore.ConnectError(str(error)) from None
        return BufferedNetworkStream(transport, reader)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class UpstreamTransport(httpx.AsyncHTTPTransport):
    """httpx's transport (its TLS settings, limits and request handling) over
    ``BufferedNetworkBackend``.

    httpx builds its connection pool without a way to name the backend, so the pool is
    built again here, with the same TLS context and limits, and the backend.
    """

    def __init__(self, verify: ssl.SSLContext | bool = True) -> None:
        super().__init__(verify=verify, limits=UPSTREAM_LIMITS)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=UPSTREAM_LIMITS.max_connections,
            max_keepalive_connections=UPSTREAM_LIMITS.max_keepalive_connections,
            keepalive_expiry=UPSTREAM_LIMITS.keepalive_expiry,
            network_backend=BufferedNetworkBackend(),
        )


__all__ = [
    "BUFFER_SIZE",
    "UPSTREAM_LIMITS",
    "BufferedNetworkBackend",
    "BufferedNetworkStream",
    "UpstreamTransport",
]
