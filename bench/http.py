"""A small blocking HTTP/1.1 client on a raw keep-alive socket.

It exists so that the harness itself is never the bottleneck: bodies are sent with one
``sendall`` from a memoryview (no copies), downloads can be counted into a reused buffer
instead of being kept, and there is no per-request machinery beyond parsing the header
block. It speaks only what the benchmarks need: Content-Length and chunked bodies,
HEAD, keep-alive, and reconnecting after ``Connection: close``.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_RECV_SIZE = 4 << 20
_MAX_HEADER_BYTES = 256 << 10
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class HttpError(Exception):
    """The server's reply could not be read as HTTP/1.1, or had an unexpected status."""


@dataclass
class Response:
    """One reply: status, headers (lower-cased names) and the body (empty when discarded)."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    body_length: int = 0
    all_headers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str, default: str = "") -> str:
        """The value of header ``name`` (case-insensitive), or ``default``."""
        return self.headers.get(name.lower(), default)

    def expect(self, *statuses: int) -> Response:
        """Return self if the status is one of ``statuses``, else raise HttpError."""
        if self.status not in statuses:
            snippet = self.body[:300].decode("utf-8", "replace")
            raise HttpError(f"unexpected status {self.status} (wanted {statuses}): {snippet}")
        return self


def request_target(location: str) -> str:
    """The path and query of a Location header, which may be an absolute URL."""
    parts = urlsplit(location)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return target


def with_query(target: str, **params: str) -> str:
    """``target`` with ``params`` appended to its query string (values already URL-safe)."""
    sep = "&" if "?" in target else "?"
    return target + sep + "&".join(f"{k}={v}" for k, v in params.items())


class Connection:
    """One keep-alive connection to ``host:port``, opened lazily and reopened when closed."""

    def __init__(self, host: str, port: int, timeout: float = 60.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buf = bytearray()
        self._scratch = bytearray(_RECV_SIZE)
        self._elsewhere: dict[tuple[str, int], Connection] = {}

    def close(self) -> None:
        """Close the socket, if open, and those opened to follow redirects."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buf.clear()
        for other in self._elsewhere.values():
            other.close()
        self._elsewhere.clear()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> socket.socket:
        if self._sock is None:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            self._buf.clear()
        return self._sock

    def request(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | memoryview | None = None,
        *,
        discard_body: bool = False,
    ) -> Response:
        """Send one request and read its whole reply.

        With ``discard_body`` the reply body is counted (``body_length``) but not kept,
        which is how downloads are measured without the cost of keeping them.
        """
        sock = self._connect()
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        length = 0 if body is None else len(body)
        has_length = False
        for name, value in (headers or {}).items():
            has_length = has_length or name.lower() == "content-length"
            lines.append(f"{name}: {value}")
        if not has_length and (body is not None or method in ("POST", "PUT", "PATCH")):
            lines.append(f"Content-Length: {length}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            if body is not None and length <= 64 << 10:
                sock.sendall(head + bytes(body))
            else:
                sock.sendall(head)
                if body is not None:
                    sock.sendall(body)
            return self._read_response(method, discard_body)
        except BaseException:
            self.close()
            raise

    def request_following(
        self, method: str, target: str, headers: Mapping[str, str] | None = None, **kw: bool
    ) -> Response:
        """``request`` without a body, following redirects (to S3, say) as clients do.

        Redirects to another host go over a keep-alive connection to that host, kept
        for the next redirect there; the request headers are not sent along, since a
        presigned URL carries its own authority.
        """
        response = self.request(method, target, headers, **kw)
        conn: Connection = self
        for _ in range(5):
            if response.status not in _REDIRECTS:
                return response
            parts = urlsplit(response.header("location"))
            if parts.hostname is not None:
                key = (parts.hostname, parts.port or 80)
                if key != (self.host, self.port):
                    conn = self._elsewhere.get(key) or Connection(*key, timeout=self.timeout)
                    self._elsewhere[key] = conn
            response = conn.request(method, request_target(response.header("location")), **kw)
        raise HttpError(f"{method} {target}: more than 5 redirects")

    def _fill(self) -> None:
        assert self._sock is not None
        n = self._sock.recv_into(self._scratch)
        if n == 0:
            raise HttpError("connection closed by the server mid-reply")
        self._buf += memoryview(self._scratch)[:n]

    def _read_head(self) -> tuple[int, dict[str, str], list[tuple[str, str]]]:
        while True:
            end = self._buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self._buf) > _MAX_HEADER_BYTES:
                raise HttpError("reply header block too large")
            self._fill()
        head = bytes(self._buf[:end]).decode("latin-1")
        del self._buf[: end + 4]
        status_line, *header_lines = head.split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise HttpError(f"bad status line {status_line!r}")
        status = int(parts[1])
        pairs: list[tuple[str, str]] = []
        for line in header_lines:
            name, _, value = line.partition(":")
            pairs.append((name.strip().lower(), value.strip()))
        return status, dict(pairs), pairs

    def _read_response(self, method: str, discard: bool) -> Response:
        status, headers, pairs = self._read_head()
        while 100 <= status < 200:
            status, headers, pairs = self._read_head()
        body = b""
        body_length = 0
        if method == "HEAD" or status in (204, 304):
            pass
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body, body_length = self._read_chunked(discard)
        elif "content-length" in headers:
            body, body_length = self._read_exact(int(headers["content-length"]), discard)
        else:
            body, body_length = self._read_to_close(discard)
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, body, body_length, pairs)

    def _read_exact(self, n: int, discard: bool) -> tuple[bytes, int]:
        if not discard:
            while len(self._buf) < n:
                self._fill()
            data = bytes(self._buf[:n])
            del self._buf[:n]
            return data, n
        take = min(n, len(self._buf))
        del self._buf[:take]
        remaining = n - take
        assert self._sock is not None
        while remaining > 0:
            view = memoryview(self._scratch)[: min(remaining, _RECV_SIZE)]
            got = self._sock.recv_into(view)
            if got == 0:
                raise HttpError("connection closed by the server mid-body")
            remaining -= got
        return b"", n

    def _read_line(self) -> bytes:
        while True:
            end = self._buf.find(b"\r\n")
            if end >= 0:
                line = bytes(self._buf[:end])
                del self._buf[: end + 2]
                return line
            self._fill()

    def _read_chunked(self, discard: bool) -> tuple[bytes, int]:
        pieces: list[bytes] = []
        total = 0
        while True:
            size = int(self._read_line().split(b";", 1)[0], 16)
            if size == 0:
                while self._read_line():
                    pass  # trailers
                return b"".join(pieces), total
            data, _ = self._read_exact(size, discard)
            pieces.append(data)
            total += size
            self._read_line()

    def _read_to_close(self, discard: bool) -> tuple[bytes, int]:
        assert self._sock is not None
        total = len(self._buf)
        pieces = [] if discard else [bytes(self._buf)]
        self._buf.clear()
        while True:
            got = self._sock.recv_into(self._scratch)
            if got == 0:
                break
            total += got
            if not discard:
                pieces.append(bytes(self._scratch[:got]))
        self.close()
        return b"".join(pieces), total
