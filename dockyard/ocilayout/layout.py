"""One OCI image layout directory: ``oci-layout``, ``index.json`` and ``blobs/``.

Blobs are written to a temporary file, verified against their digest, synced and renamed
into place, so a layout never holds a partial or wrong blob; ``index.json`` is replaced
the same way, after the blobs it names.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any, Final

from dockyard.digest import Digest
from dockyard.errors import DigestInvalid, DockyardError

REF_NAME: Final = "org.opencontainers.image.ref.name"
#: Names the repository of an entry exported by digest (no ref.name to carry it).
REPOSITORY: Final = "dev.dockyard.repository"
_LAYOUT_FILE: Final = '{"imageLayoutVersion":"1.0.0"}'
_READ_SIZE: Final = 1 << 20


class LayoutError(DockyardError):
    """The directory is not an OCI image layout dockyard can read."""


class OciLayout:
    """An OCI image layout at ``root`` (created on first write)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def blob_path(self, digest: Digest) -> Path:
        return self.root / "blobs" / digest.algorithm / digest.hex

    # --- writing --------------------------------------------------------------------------

    async def create(self) -> None:
        await asyncio.to_thread(self._create)

    def _create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        marker = self.root / "oci-layout"
        if not marker.exists():
            _write_atomically(marker, _LAYOUT_FILE.encode())

    async def has(self, digest: Digest) -> bool:
        return await asyncio.to_thread(self.blob_path(digest).is_file)

    async def write_blob(self, digest: Digest, chunks: AsyncIterable[bytes]) -> int:
        """Store a blob under its digest, verified; returns its size."""
        target = self.blob_path(digest)
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        temporary = target.with_name(f".{digest.hex}.{secrets.token_hex(4)}.tmp")
        hasher = hashlib.new(digest.algorithm)
        size = 0
        handle = await asyncio.to_thread(temporary.open, "wb")
        try:
            async for chunk in chunks:
                hasher.update(chunk)
                size += len(chunk)
                await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(_sync_and_close, handle)
            if hasher.hexdigest() != digest.hex:
                raise DigestInvalid(f"the content read for {digest} does not match it")
            await asyncio.to_thread(os.replace, temporary, target)
        except BaseException:
            handle.close()
            with contextlib.suppress(OSError):
                await asyncio.to_thread(temporary.unlink)
            raise
        return size

    async def write_index(self, entries: list[dict[str, Any]]) -> None:
        """Add ``entries`` to ``index.json``, replacing entries of the same ref.name."""

        def merge() -> None:
            names = {e.get("annotations", {}).get(REF_NAME) for e in entries} - {None}
            kept = [
                e
                for e in self._read_index_document().get("manifests", [])
                if e.get("annotations", {}).get(REF_NAME) not in names
            ]
            document = {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": kept + entries,
            }
            _write_atomically(self.root / "index.json", json.dumps(document, indent=2).encode())

        await asyncio.to_thread(merge)

    # --- reading --------------------------------------------------------------------------

    async def index(self) -> list[dict[str, Any]]:
        """The entries of ``index.json``; ``LayoutError`` if this is no OCI layout."""

        def read() -> list[dict[str, Any]]:
            if not (self.root / "oci-layout").is_file():
                raise LayoutError(f"{self.root} is not an OCI image layout (no oci-layout file)")
            manifests = self._read_index_document().get("manifests", [])
            if not isinstance(manifests, list):
                raise LayoutError(f"{self.root}/index.json: manifests is not a list")
            return manifests

        return await asyncio.to_thread(read)

    async def read_blob(self, digest: Digest) -> bytes:
        try:
            return await asyncio.to_thread(self.blob_path(digest).read_bytes)
        except FileNotFoundError:
            raise LayoutError(f"{self.root} lacks blob {digest}") from None

    async def blob_chunks(self, digest: Digest) -> AsyncIterator[bytes]:
        path = self.blob_path(digest)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise LayoutError(f"{self.root} lacks blob {digest}") from None
        try:
            while chunk := await asyncio.to_thread(handle.read, _READ_SIZE):
                yield chunk
        finally:
            handle.close()

    def _read_index_document(self) -> dict[str, Any]:
        path = self.root / "index.json"
        if not path.exists():
            return {}
        try:
            document = json.loads(path.read_bytes())
        except ValueError:
            raise LayoutError(f"{path} is not JSON") from None
        if not isinstance(document, dict):
            raise LayoutError(f"{path} is not an image index")
        return document


def _sync_and_close(handle: Any) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
