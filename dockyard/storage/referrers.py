"""The referrers index: for each subject digest, the descriptors of manifests naming it.

An entry is a small JSON descriptor file filed under the subject
(``_dockyard/referrers/<alg>/<hex>/<alg>/<hex>/descriptor``), written after the referring
manifest's revision link, removed with it, and rebuildable from the revisions at any time
(the reference registry keeps no such index, so a root it wrote needs one rebuild).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
from typing import Any

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.errors import DigestInvalid, ManifestInvalid, ManifestUnverified
from dockyard.manifest.base import Manifest
from dockyard.storage import paths
from dockyard.storage.driver.base import PathNotFound, StorageDriver


def descriptor_to_bytes(descriptor: Descriptor) -> bytes:
    """A descriptor as the compact JSON stored in index files."""
    return json.dumps(descriptor.to_json(), separators=(",", ":"), sort_keys=True).encode()


def descriptor_from_bytes(data: bytes) -> Descriptor | None:
    """A descriptor read back from an index file, or None when the file is damaged."""
    try:
        raw: Any = json.loads(data)
        if not isinstance(raw, dict):
            return None
        annotations = raw.get("annotations")
        platform = raw.get("platform")
        return Descriptor(
            media_type=str(raw["mediaType"]),
            digest=Digest.parse(str(raw["digest"])),
            size=int(raw["size"]),
            artifact_type=raw.get("artifactType") or None,
            annotations=dict(annotations) if isinstance(annotations, dict) else None,
            platform=dict(platform) if isinstance(platform, dict) else None,
        )
    except (ValueError, KeyError, TypeError, DigestInvalid):
        return None


async def list_leaf_digests(driver: StorageDriver, folder: str) -> builtins.list[Digest]:
    """Digests filed as ``<folder>/<alg>/<hex>/...``, sorted; empty if ``folder`` is absent."""
    try:
        algorithms = await driver.list(folder)
    except PathNotFound:
        return []
    found: builtins.list[Digest] = []
    for algorithm_dir in algorithms:
        algorithm = algorithm_dir.rsplit("/", 1)[-1]
        try:
            entries = await driver.list(algorithm_dir)
        except PathNotFound:
            continue
        for entry in entries:
            with contextlib.suppress(DigestInvalid):
                found.append(Digest.parse(f"{algorithm}:{entry.rsplit('/', 1)[-1]}"))
    return sorted(found)


class StorageReferrers:
    """The referrers index of one repository (implements ``protocols.Referrers``)."""

    def __init__(self, name: str, driver: StorageDriver) -> None:
        self.name = name
        self.driver = driver

    async def list(
        self, subject: Digest, artifact_type: str | None = None
    ) -> builtins.list[Descriptor]:
        """Descriptors of manifests whose ``subject`` is ``subject``, optionally filtered."""
        referrers = await list_leaf_digests(self.driver, paths.referrers_dir(self.name, subject))

        async def read(referrer: Digest) -> Descriptor | None:
            path = paths.referrer_descriptor(self.name, subject, referrer)
            try:
                return descriptor_from_bytes(await self.driver.get_content(path))
            except PathNotFound:
                return None

        found = await asyncio.gather(*(read(referrer) for referrer in referrers))
        return [
            descriptor
            for descriptor in found
            if descriptor is not None
            and (artifact_type is None or descriptor.artifact_type == artifact_type)
        ]

    async def add(self, manifest: Manifest) -> bool:
        """File ``manifest`` under its subject; False when it has none."""
        if manifest.subject is None:
            return False
        await self.driver.put_content(
            paths.referrer_descriptor(self.name, manifest.subject.digest, manifest.digest),
            descriptor_to_bytes(manifest.descriptor()),
        )
        return True

    async def remove(self, manifest: Manifest) -> None:
        """Remove ``manifest``'s entry, if it has one."""
        if manifest.subject is None:
            return
        with contextlib.suppress(PathNotFound):
            await self.driver.delete(
                paths.referrer_descriptor(self.name, manifest.subject.digest, manifest.digest)
            )

    async def rebuild(self) -> int:
        """Rewrite the index from the stored manifests; returns the entries written."""
        # Imported here: manifests.py files entries through this class.
        from dockyard.storage.manifests import load_manifest, revisions

        with contextlib.suppress(PathNotFound):
            await self.driver.delete(paths.referrers_root(self.name))
        written = 0
        for digest in await revisions(self.driver, self.name):
            try:
                manifest = await load_manifest(self.driver, self.name, digest)
            except (ManifestInvalid, ManifestUnverified):
                continue  # not understood, so no subject to file it under
            if manifest is not None and await self.add(manifest):
                written += 1
        return written
