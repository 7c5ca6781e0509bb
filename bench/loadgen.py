"""A keep-alive HTTP/1.1 load generator on asyncio protocols, for what wrk cannot do.

Debian's wrk 4.1 hangs on replies to HEAD (its parser waits for the body that the
Content-Length announces), so HEAD load is generated here. Each connection is an
``asyncio.Protocol`` with one request in flight: the request bytes are prepared once,
a reply is recognised by its header terminator (plus Content-Length bytes for GET), and
nothing else happens per request, so one Python process produces several tens of
thousands of requests per second — well above what the servers under test answer.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import cast

from bench.stats import percentile


@dataclass
class LoadResult:
    """What a load run measured: completed requests, their latencies, and failures."""

    requests: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    non_2xx: int = 0
    errors: int = 0

    @property
    def rps(self) -> float:
        """Completed requests per second."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def p(self, q: float) -> float:
        """The ``q``-th percentile latency in seconds."""
        return percentile(self.latencies, q)


class _Client(asyncio.Protocol):
    """One connection that sends the same request again as soon as a reply completes."""

    def __init__(self, request: bytes, is_head: bool, deadline: float, out: LoadResult) -> None:
        self._request = request
        self._is_head = is_head
        self._deadline = deadline
        self._out = out
        self._buf = bytearray()
        self._need_body = 0
        self._sent_at = 0.0
        self._transport: asyncio.Transport | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self._send()

    def _send(self) -> None:
        assert self._transport is not None
        self._sent_at = time.perf_counter()
        self._transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        while True:
            if self._need_body:
                take = min(self._need_body, len(buf))
                del buf[:take]
                self._need_body -= take
                if self._need_body:
                    return
                self._complete()
                continue
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = int(buf[9:12])
            if not 200 <= status < 300:
                self._out.non_2xx += 1
            length = 0
            if not self._is_head:
                head = bytes(buf[:end]).lower()
                at = head.find(b"\r\ncontent-length:")
                if at >= 0:
                    stop = head.find(b"\r\n", at + 2)
                    length = int(head[at + 17 : stop if stop >= 0 else None])
            del buf[: end + 4]
            if length:
                self._need_body = length
                continue
            self._complete()

    def _complete(self) -> None:
        now = time.perf_counter()
        self._out.latencies.append(now - self._sent_at)
        self._out.requests += 1
        if now < self._deadline:
            self._send()
        else:
            assert self._transport is not None
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None or time.perf_counter() < self._deadline:
            self._out.errors += 1
        if not self.done.done():
            self.done.set_result(None)


async def _run(
    host: str,
    port: int,
    method: str,
    target: str,
    headers: dict[str, str],
    connections: int,
    duration: float,
) -> LoadResult:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    out = LoadResult(requests=0, seconds=0.0)
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    deadline = started + duration
    clients: list[_Client] = []
    for _ in range(connections):
        _, proto = await loop.create_connection(
            lambda: _Client(request, method == "HEAD", deadline, out), host, port
        )
        clients.append(proto)
    await asyncio.wait_for(asyncio.gather(*(c.done for c in clients)), timeout=duration + 30)
    out.seconds = time.perf_counter() - started
    return out


def run_load(
    host: str,
    port: int,
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    *,
    connections: int,
    duration: float,
) -> LoadResult:
    """Drive ``method target`` over ``connections`` keep-alive connections for ``duration`` s."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dockyard dependency
        return asyncio.run(_run(host, port, method, target, headers or {}, connections, duration))
    return uvloop.run(_run(host, port, method, target, headers or {}, connections, duration))
