"""The upstream client's sockets: reads of everything that arrived, bounded, over TCP and
TLS, and a connection cut mid-blob reported as the upstream being unavailable."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import h11
import h11._receivebuffer
import httpcore
import httpx
import pytest
from auth_helpers import certificate, ec_key, pem
from cryptography.hazmat.primitives import serialization

from dockyard.digest import Digest
from dockyard.proxy.client import UpstreamClient, UpstreamUnavailable
from dockyard.proxy.network import (
    BUFFER_SIZE,
    BufferedNetworkBackend,
    BufferedNetworkStream,
    UpstreamTransport,
)
from dockyard.proxy.settings import UpstreamConfig

MiB = 1 << 20
BODY = bytes(range(256)) * (3 * MiB // 256)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def server(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """A loopback server answering each connection with ``handler``; yields its port."""
    listening = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=tls)
    try:
        yield listening.sockets[0].getsockname()[1]
    finally:
        listening.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(listening.wait_closed(), 5)


def http_answer(body: bytes, length: int | None = None) -> Handler:
    """Answers one request with ``body``, declaring ``length`` bytes (a cut when more)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {length or len(body)}\r\n\r\n"
        writer.write(head.encode() + body)
        await writer.drain()
        writer.close()

    return answer


async def wait_for(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(20):
        while not condition():
            await asyncio.sleep(0.01)


async def send_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Sends ``BODY`` as it is, no HTTP, and closes."""
    writer.write(BODY)
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    writer.close()


@contextlib.asynccontextmanager
async def filled_stream() -> AsyncIterator[BufferedNetworkStream]:
    """A connection to ``send_body`` whose buffer has filled, nothing read yet."""
    async with server(send_body) as port:
        stream = await BufferedNetworkBackend().connect_tcp("127.0.0.1", port, timeout=5)
        assert isinstance(stream, BufferedNetworkStream)
        # Unread bytes fill the buffer (a socket hands over at most 256 KiB at once).
        await wait_for(lambda: stream.buffered >= BUFFER_SIZE - (64 << 10))
        yield stream


async def test_a_read_takes_everything_that_arrived_in_one_piece_up_to_the_buffer() -> None:
    async with filled_stream() as stream:
        first = await stream.read(2 * BUFFER_SIZE, timeout=5)
        pieces = [first, *[piece async for piece in _pieces(stream)]]

    assert len(first) >= BUFFER_SIZE - (64 << 10)
    assert max(map(len, pieces)) <= BUFFER_SIZE
    assert b"".join(pieces) == BODY


async def test_a_connection_nobody_reads_holds_at_most_its_buffer() -> None:
    async with filled_stream() as stream:
        await asyncio.sleep(0.2)
        held = stream.buffered
        rest = b"".join([piece async for piece in _pieces(stream)])

    assert held <= BUFFER_SIZE
    assert rest == BODY


async def _pieces(stream: httpcore.AsyncNetworkStream) -> AsyncIterator[bytes]:
    try:
        while piece := await stream.read(BUFFER_SIZE, timeout=5):
            yield piece
    finally:
        await stream.aclose()


async def test_a_read_that_gets_nothing_in_time_raises_read_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    async with server(silent) as port:
        stream = await BufferedNetworkBackend().connect_tcp("127.0.0.1", port, timeout=5)
        with pytest.raises(httpcore.ReadTimeout):
            await stream.read(BUFFER_SIZE, timeout=0.1)
        await stream.aclose()


async def test_a_write_to_a_connection_the_upstream_closed_raises_write_error() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async with server(hang_up) as port:
        stream = await BufferedNetworkBackend().connect_tcp("127.0.0.1", port, timeout=5)
        await wait_for(lambda: bool(stream.get_extra_info("is_readable")))
        with pytest.raises(httpcore.WriteError):
            await stream.write(b"GET / HTTP/1.1\r\n\r\n", timeout=5)
        assert await stream.read(BUFFER_SIZE, timeout=5) == b""


async def test_a_refused_connection_raises_connect_error(free_port: Callable[[], int]) -> None:
    with pytest.raises(httpcore.ConnectError):
        await BufferedNetworkBackend().connect_tcp("127.0.0.1", free_port(), timeout=5)


async def test_an_upstream_cut_mid_blob_is_unavailable_not_a_short_blob() -> None:
    digest = Digest.of(BODY)
    async with server(http_answer(BODY[: MiB + 5], length=len(BODY))) as port:
        client = UpstreamClient(UpstreamConfig("cut", f"http://127.0.0.1:{port}"))
        received: list[bytes] = []

        async def download() -> None:
            async with client.blob("team/app", digest) as response:
                async for chunk in response.aiter_raw():
                    received.append(chunk)

        with pytest.raises(UpstreamUnavailable):
            await download()
        await client.close()

    assert b"".join(received) == BODY[: MiB + 5]


async def test_a_blob_downloads_over_tls(tmp_path: Path) -> None:
    key = ec_key()
    cert = certificate(key, ca=False, name="127.0.0.1")
    (tmp_path / "cert.pem").write_bytes(pem(cert))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    trusting = ssl.create_default_context(cafile=tmp_path / "cert.pem")
    trusting.check_hostname = False

    async with (
        server(http_answer(BODY), tls=serving) as port,
        httpx.AsyncClient(transport=UpstreamTransport(verify=trusting)) as client,
    ):
        response = await client.get(f"https://127.0.0.1:{port}/v2/team/app/blobs/x")

    assert response.content == BODY


def test_h11_hands_a_body_over_whole_and_keeps_the_bytes_after_it() -> None:
    connection = h11.Connection(h11.CLIENT)
    connection.send(h11.Request(method="GET", target="/", headers=[("Host", "upstream")]))
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    # The first chunk ends inside a receive (the next chunk's size line follows it), the
    # second takes what is left of one.
    connection.receive_data(head + b"5\r\nfirst\r\n6\r\nsec")
    connection.receive_data(b"ond")
    connection.receive_data(b"\r\n0\r\n\r\n")
    events = []
    while (event := connection.next_event()) is not h11.NEED_DATA:
        events.append(event)
        if isinstance(event, h11.EndOfMessage):
            break

    body = b"".join(bytes(e.data) for e in events if isinstance(e, h11.Data))
    assert body == b"firstsecond"
    assert isinstance(events[-1], h11.EndOfMessage)


def test_h11_hands_its_whole_buffer_over_without_copying_it() -> None:
    buffer = h11._receivebuffer.ReceiveBuffer()
    buffer += b"a body's bytes"
    held = buffer._data

    taken = buffer.maybe_extract_at_most(1 << 20)

    assert taken is held
    assert not buffer
