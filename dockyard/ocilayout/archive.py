"""OCI archives: an OCI image layout in one tar file (skopeo's ``oci-archive:``).

An archive is written as a layout in a temporary folder beside it, then packed into a
temporary file that is synced and renamed into place; one is read by unpacking it into
a temporary folder with tarfile's ``data`` filter (no links out, no absolute paths).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import tarfile
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from dockyard.ocilayout.layout import LayoutError, OciLayout


@contextlib.asynccontextmanager
async def writing_archive(path: Path) -> AsyncIterator[OciLayout]:
    """A layout to write into; packed into ``path`` when the block ends without error."""
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=".oci-", dir=path.parent))
    try:
        yield OciLayout(folder)
        await asyncio.to_thread(_pack, folder, path)
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)


@contextlib.asynccontextmanager
async def reading_archive(path: Path) -> AsyncIterator[OciLayout]:
    """The layout packed in ``path``, unpacked for the block's duration."""
    folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=".oci-", dir=path.parent))
    try:
        await asyncio.to_thread(_unpack, path, folder)
        yield OciLayout(folder)
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)


def _pack(folder: Path, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with temporary.open("wb") as handle:
            with tarfile.open(fileobj=handle, mode="w") as tar:
                for name in ("oci-layout", "index.json", "blobs"):
                    tar.add(folder / name, arcname=name)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def _unpack(path: Path, folder: Path) -> None:
    try:
        with tarfile.open(path, mode="r:*") as tar:
            tar.extractall(folder, filter="data")
    except FileNotFoundError:
        raise LayoutError(f"{path}: no such file") from None
    except (tarfile.TarError, OSError) as error:
        raise LayoutError(f"{path}: not a readable OCI archive ({error})") from None
