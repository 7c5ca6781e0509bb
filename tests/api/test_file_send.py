"""LocalFileResponse: a local file's bytes as an ASGI body, from reused page-aligned reads."""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import mmap
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dockyard.api.file_send import LocalFileResponse
from dockyard.storage.driver.base import OpenFile

PIECE = 8192
#: Several pieces plus a tail, so the first, full and last pieces all occur.
DATA = os.urandom(PIECE * 7 + 1234)


@pytest.fixture
def blob(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.write_bytes(DATA)
    return path


class CopyingServer:
    """Takes each body's bytes when it is sent, as granian does."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        #: (identity, is a bytearray) of each body sent, without keeping the object.
        self.body_objects: list[tuple[int, bool]] = []

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            body = message["body"]
            self.body_objects.append((id(body), isinstance(body, bytearray)))
            message = {**message, "body": bytes(message["body"])}
        self.messages.append(message)

    @property
    def content(self) -> bytes:
        return b"".join(m["body"] for m in self.messages if m["type"] == "http.response.body")


class KeepingServer:
    """Keeps each body object and reads it only at the end, as httpx's test transport."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    @property
    def content(self) -> bytes:
        return b"".join(
            bytes(m["body"]) for m in self.messages if m["type"] == "http.response.body"
        )


class Client:
    """The request side: an empty GET body, then nothing until ``leave``."""

    def __init__(self) -> None:
        self._requested = False
        self._left = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        if not self._requested:
            self._requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._left.wait()
        return {"type": "http.disconnect"}

    def leave(self) -> None:
        self._left.set()


def _opened(path: Path) -> OpenFile:
    fd = os.open(path, os.O_RDONLY)
    return OpenFile(fd, os.fstat(fd).st_size)


def _response(path: Path, offset: int, length: int) -> LocalFileResponse:
    headers = {"Content-Length": str(length)}
    return LocalFileResponse(_opened(path), offset, length, 200, headers, "x/y", piece_size=PIECE)


async def _serve(response: LocalFileResponse, send: Any, client: Client | None = None) -> None:
    receive = (client or Client()).receive
    await response({"type": "http", "method": "GET"}, receive, send)


async def test_whole_file_is_sent_exactly_to_a_copying_server(blob: Path) -> None:
    server = CopyingServer()
    await _serve(_response(blob, 0, len(DATA)), server.send)
    assert server.content == DATA


async def test_only_the_last_body_says_no_more_body(blob: Path) -> None:
    server = CopyingServer()
    await _serve(_response(blob, 0, len(DATA)), server.send)
    bodies = [m for m in server.messages if m["type"] == "http.response.body"]
    assert len(bodies) > 2
    assert [m["more_body"] for m in bodies] == [True] * (len(bodies) - 1) + [False]


async def test_start_carries_the_status_and_headers(blob: Path) -> None:
    server = CopyingServer()
    await _serve(_response(blob, 0, len(DATA)), server.send)
    start = server.messages[0]
    assert start["type"] == "http.response.start"
    assert start["status"] == 200
    assert (b"content-length", str(len(DATA)).encode()) in start["headers"]


async def test_range_at_an_unaligned_offset_is_sent_exactly(blob: Path) -> None:
    server = CopyingServer()
    await _serve(_response(blob, 1001, 3 * PIECE + 17), server.send)
    assert server.content == DATA[1001 : 1001 + 3 * PIECE + 17]


async def test_bodies_kept_by_the_server_are_never_overwritten(blob: Path) -> None:
    server = KeepingServer()
    await _serve(_response(blob, 0, len(DATA)), server.send)
    assert server.content == DATA


async def test_a_copying_server_gets_the_same_two_buffers_again(blob: Path) -> None:
    server = CopyingServer()
    await _serve(_response(blob, 0, len(DATA)), server.send)
    full = [identity for identity, reused in server.body_objects if reused]
    assert len(full) >= 4
    assert len(set(full)) <= 2


async def test_full_pieces_are_read_at_offsets_congruent_with_their_buffer(blob: Path) -> None:
    checked = 0
    position = 5  # in the file

    async def send(message: dict[str, Any]) -> None:
        nonlocal checked, position
        if message["type"] != "http.response.body":
            return
        body = message["body"]
        if isinstance(body, bytearray):
            address = ctypes.addressof(ctypes.c_char.from_buffer(body))
            assert address % mmap.PAGESIZE == position % mmap.PAGESIZE
            checked += 1
        position += len(body)

    await _serve(_response(blob, 5, len(DATA) - 5), send)
    assert checked >= 4


async def test_zero_length_sends_one_empty_body(blob: Path) -> None:
    server = CopyingServer()
    await _serve(_response(blob, 0, 0), server.send)
    assert [m["type"] for m in server.messages] == ["http.response.start", "http.response.body"]
    assert server.content == b""


async def test_file_shorter_than_its_length_raises_after_the_start(blob: Path) -> None:
    server = CopyingServer()
    with pytest.raises(RuntimeError, match="shorter"):
        await _serve(_response(blob, 0, len(DATA) + 1), server.send)
    assert server.messages[0]["type"] == "http.response.start"


async def test_small_file_shorter_than_its_length_fails_before_the_start(blob: Path) -> None:
    server = CopyingServer()
    with pytest.raises(RuntimeError, match="shorter"):
        await _serve(_response(blob, len(DATA) - 10, 11), server.send)
    assert server.messages == []


async def test_file_of_one_piece_is_sent_as_one_body(blob: Path) -> None:
    server = CopyingServer()
    await _serve(_response(blob, 3, PIECE), server.send)
    assert [m["type"] for m in server.messages] == ["http.response.start", "http.response.body"]
    assert server.content == DATA[3 : 3 + PIECE]


async def test_file_of_two_pieces_is_sent_as_one_body(blob: Path) -> None:
    server = CopyingServer()
    await _serve(_response(blob, 5, 2 * PIECE), server.send)
    assert [m["type"] for m in server.messages] == ["http.response.start", "http.response.body"]
    assert server.content == DATA[5 : 5 + 2 * PIECE]


async def test_reading_stops_once_the_client_has_gone(blob: Path) -> None:
    client = Client()
    server = CopyingServer()

    async def send(message: dict[str, Any]) -> None:
        await server.send(message)
        if len(server.messages) == 3:
            client.leave()
            for _ in range(3):  # let the response notice before its next read
                await asyncio.sleep(0)

    await _serve(_response(blob, 0, len(DATA)), send, client)
    assert 0 < len(server.content) < len(DATA) - PIECE


@pytest.mark.parametrize("length", [10, 3 * PIECE], ids=["one piece", "pieces"])
async def test_the_response_closes_the_file_it_sent(blob: Path, length: int) -> None:
    response = _response(blob, 0, length)
    await _serve(response, CopyingServer().send)
    with pytest.raises(ValueError, match="closed"):
        response.file.fd  # noqa: B018 - the property raises once the file is closed


async def test_a_removed_file_is_still_sent_whole(blob: Path) -> None:
    server = CopyingServer()
    response = _response(blob, 0, len(DATA))
    blob.unlink()
    await _serve(response, server.send)
    assert bytes(server.content) == DATA


# --- under granian, which copies bytearray bodies when they are sent -----------------------

LARGE = os.urandom(5 * (1 << 20) + 4321)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def granian_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A granian (ASGI, uvloop, one worker, as ``dockyard serve``) serving a 5 MiB file."""
    path = tmp_path_factory.mktemp("file-send") / "data"
    path.write_bytes(LARGE)
    port = _free_port()
    env = {**os.environ, "FILE_SEND_PATH": str(path)}
    argv = [sys.executable, "-m", "granian", "--interface", "asgi", "--loop", "uvloop"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--no-ws"]
    argv += ["--log-level", "warning", "--working-dir", str(Path(__file__).parent)]
    process = subprocess.Popen([*argv, "file_send_app:app"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/?length=0", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_granian_delivers_a_multi_piece_file_intact(granian_url: str) -> None:
    response = httpx.get(granian_url + "/", timeout=30)
    assert response.status_code == 200
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(LARGE).digest()


def test_granian_delivers_an_unaligned_range_intact(granian_url: str) -> None:
    start, length = 777, 3 * (1 << 20) + 5
    response = httpx.get(granian_url + f"/?start={start}&length={length}", timeout=30)
    assert response.content == LARGE[start : start + length]
