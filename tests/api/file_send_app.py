"""A one-response ASGI app for test_file_send: serves ``FILE_SEND_PATH`` through
``LocalFileResponse``, whole or the range ``?start=&length=``, under a real granian."""

from __future__ import annotations

import os
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

from dockyard.api.file_send import LocalFileResponse
from dockyard.storage.driver.base import OpenFile


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer every HTTP request with (part of) the file; ignore lifespan events."""
    if scope["type"] != "http":
        return
    path = os.environ["FILE_SEND_PATH"]
    query = parse_qs(scope["query_string"].decode())
    start = int(query.get("start", ["0"])[0])
    length = int(query.get("length", [str(os.path.getsize(path) - start)])[0])
    headers = {"Content-Length": str(length)}
    fd = os.open(path, os.O_RDONLY)
    file = OpenFile(fd, os.fstat(fd).st_size)
    response = LocalFileResponse(file, start, length, 200, headers, "application/octet-stream")
    await response(scope, receive, send)
