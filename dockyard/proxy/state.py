"""What the pull-through cache remembers, kept in the storage beside the content.

Below ``/dockyard/proxy`` (outside the reference's ``/docker/registry/v2`` tree, so its
tools and ``dockyard gc`` never see it), per proxied repository:

- ``r/<name>/tags/<tag>``: the digest a tag named upstream and when that was checked;
- ``r/<name>/manifests/<algorithm>-<hex>``: each manifest fetched, its media type and
  bytes (served from here until every blob it references is stored and linked);
- ``r/<name>/blobs/<algorithm>-<hex>``: each blob fetched into the repository;
- ``r/<name>/accessed``: when the repository was last pulled from (its TTL starts here);

and ``b/<algorithm>-<hex>``: a repository the blob was fetched into, to link it from
there into another repository instead of fetching it again. ``<name>`` is the repository
name hex-encoded, so every repository is one folder. Every instance sharing the storage
shares this state.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from typing import Final

from dockyard.digest import Digest
from dockyard.storage.driver.base import PathNotFound, StorageDriver

ROOT: Final = "/dockyard/proxy"


@dataclass(frozen=True, slots=True)
class TagRecord:
    """What a tag named upstream when it was last checked (seconds since the epoch)."""

    digest: Digest
    checked: float


def _digest_name(digest: Digest) -> str:
    return f"{digest.algorithm}-{digest.hex}"


def _parse_digest_name(name: str) -> Digest | None:
    algorithm, _, hex_part = name.rpartition("/")[2].partition("-")
    try:
        return Digest.parse(f"{algorithm}:{hex_part}")
    except Exception:
        return None


def repository_folder(name: str) -> str:
    return f"{ROOT}/r/{name.encode().hex()}"


class ProxyState:
    """The proxy's records of one repository."""

    def __init__(self, driver: StorageDriver, name: str) -> None:
        self.driver = driver
        self.name = name
        self.folder = repository_folder(name)

    # --- tags -----------------------------------------------------------------------------

    async def tag(self, tag: str) -> TagRecord | None:
        data = await self._read(f"{self.folder}/tags/{tag}")
        if data is None:
            return None
        document = json.loads(data)
        return TagRecord(Digest.parse(document["digest"]), float(document["checked"]))

    async def set_tag(self, tag: str, digest: Digest) -> None:
        document = {"digest": str(digest), "checked": time.time()}
        await self.driver.put_content(f"{self.folder}/tags/{tag}", json.dumps(document).encode())

    async def tags(self) -> list[str]:
        return [path.rsplit("/", 1)[1] for path in await self._list(f"{self.folder}/tags")]

    # --- manifests ------------------------------------------------------------------------

    async def manifest(self, digest: Digest) -> tuple[str, bytes] | None:
        """The media type and bytes of a fetched manifest, if this repository has it."""
        data = await self._read(f"{self.folder}/manifests/{_digest_name(digest)}")
        if data is None:
            return None
        media_type, _, body = data.partition(b"\n")
        return media_type.decode(), body

    async def put_manifest(self, digest: Digest, media_type: str, body: bytes) -> None:
        path = f"{self.folder}/manifests/{_digest_name(digest)}"
        await self.driver.put_content(path, media_type.encode() + b"\n" + body)

    async def manifests(self) -> list[Digest]:
        found = [_parse_digest_name(p) for p in await self._list(f"{self.folder}/manifests")]
        return [d for d in found if d is not None]

    # --- blobs ----------------------------------------------------------------------------

    async def note_blob(self, digest: Digest) -> None:
        """Record that the blob was fetched into this repository (and can be linked from it)."""
        name = _digest_name(digest)
        await self.driver.put_content(f"{self.folder}/blobs/{name}", b"")
        await self.driver.put_content(f"{ROOT}/b/{name}", self.name.encode())

    async def blob_source(self, digest: Digest) -> str | None:
        """A repository the blob was fetched into, if any."""
        data = await self._read(f"{ROOT}/b/{_digest_name(digest)}")
        return None if data is None else data.decode()

    async def blobs(self) -> list[Digest]:
        found = [_parse_digest_name(p) for p in await self._list(f"{self.folder}/blobs")]
        return [d for d in found if d is not None]

    # --- the TTL --------------------------------------------------------------------------

    async def touch(self) -> None:
        await self.driver.put_content(f"{self.folder}/accessed", b"%f" % time.time())

    async def accessed(self) -> float | None:
        data = await self._read(f"{self.folder}/accessed")
        return None if data is None else float(data)

    async def exists(self) -> bool:
        return bool(await self._list(self.folder))

    async def forget(self) -> None:
        """Remove every record of this repository (after its content was unlinked)."""
        with contextlib.suppress(PathNotFound):
            await self.driver.delete(self.folder)

    # --- helpers --------------------------------------------------------------------------

    async def _read(self, path: str) -> bytes | None:
        try:
            return await self.driver.get_content(path)
        except PathNotFound:
            return None

    async def _list(self, path: str) -> list[str]:
        try:
            return await self.driver.list(path)
        except PathNotFound:
            return []


async def proxied_repositories(driver: StorageDriver) -> list[str]:
    """Names of every repository the proxy holds records of."""
    try:
        folders = await driver.list(f"{ROOT}/r")
    except PathNotFound:
        return []
    names = []
    for folder in folders:
        try:
            names.append(bytes.fromhex(folder.rsplit("/", 1)[1]).decode())
        except ValueError:
            continue
    return names
