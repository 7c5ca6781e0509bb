"""The upstream client's h11 receive buffer: a body read in pieces comes out whole."""

from __future__ import annotations

import h11

from dockyard.proxy.client import BodyReceiveBuffer


def _body_of(pieces: list[bytes]) -> tuple[bytes, list[bytes]]:
    """The body h11 hands over for a response received in ``pieces``, and each piece of it
    as it was when handed over."""
    connection = h11.Connection(h11.CLIENT)
    connection.send(h11.Request(method="GET", target="/", headers=[("Host", "upstream")]))
    connection.send(h11.EndOfMessage())
    handed: list[bytearray] = []
    snapshots: list[bytes] = []
    for piece in pieces:
        connection.receive_data(piece)
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA or isinstance(event, h11.EndOfMessage):
                break
            if isinstance(event, h11.Data):
                handed.append(event.data)
                snapshots.append(bytes(event.data))
    return b"".join(handed), snapshots


def test_h11_connections_take_the_body_buffer() -> None:
    connection = h11.Connection(h11.CLIENT)

    assert isinstance(connection._receive_buffer, BodyReceiveBuffer)


def test_body_read_in_pieces_comes_out_whole_and_unchanged_by_later_reads() -> None:
    body = bytes(range(256)) * 64
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    wire = head + body + b"HTTP/1.1 200 OK\r\n"
    pieces = [wire[i : i + 1000] for i in range(0, len(wire), 1000)]

    whole, snapshots = _body_of(pieces)

    assert whole == body
    assert b"".join(snapshots) == body
