"""Manifests of one repository: verified on push, stored byte-exact, found by digest.

A manifest's body is a blob in the global store; the repository holds it through a
revision link (``_manifests/revisions/<alg>/<hex>/link``). The body is the source of
truth. dockyard also files the manifest's descriptor (media type, size, artifact type)
under ``_dockyard/`` before linking the revision, so a HEAD answers without parsing JSON
and a GET parses with the media type it was pushed with; a root written by the reference
registry lacks these files and is served by parsing the body alone.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import dataclasses
import functools
import json
import re
from typing import TYPE_CHECKING, Final

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.errors import (
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    ManifestUnverified,
    TagUnknown,
)
from dockyard.gc.guard import hold_manifest
from dockyard.gc.journal import collections
from dockyard.manifest import Manifest, parse_manifest
from dockyard.manifest.base import DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED
from dockyard.manifest.policy import ManifestPolicy
from dockyard.reference import validate_tag
from dockyard.storage import paths
from dockyard.storage.blobs import GlobalBlobStore, link_target, linked_blob_size, write_link
from dockyard.storage.driver.base import PathNotFound, StorageDriver
from dockyard.storage.driver.plan import Each, Plan, Put, Read, Size
from dockyard.storage.manifest_cache import ManifestCache
from dockyard.storage.protocols import Blobs
from dockyard.storage.referrers import (
    StorageReferrers,
    descriptor_from_bytes,
    descriptor_to_bytes,
    list_leaf_digests,
)
from dockyard.storage.tags import StorageTags

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

#: Bodies larger than this are parsed and hashed in a worker thread.
_THREAD_PARSE_MIN: Final = 256 << 10

_SCHEMA1_TYPES: Final = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})
_SCHEMA1_VERSION: Final = re.compile(rb'"schemaVersion"\s*:\s*1\b')


@functools.cache
def schema1_signing_key() -> ec.EllipticCurvePrivateKey:
    """The key schema1 payloads are signed with when their pushed signatures are unknown.

    Generated once per process, as the reference registry does without a configured key.
    """
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _is_unsigned_schema1(body: bytes) -> bool:
    """Whether ``body`` is a schema1 canonical payload (what the reference stores)."""
    if not _SCHEMA1_VERSION.search(body):
        return False
    try:
        raw = json.loads(body)
    except ValueError:
        return False
    return isinstance(raw, dict) and raw.get("schemaVersion") == 1 and "signatures" not in raw


async def _signed_schema1(driver: StorageDriver, name: str, digest: Digest, body: bytes) -> bytes:
    """The signed form of a stored schema1 payload: as pushed, else signed by the registry."""
    try:
        return await driver.get_content(paths.schema1_signed(name, digest))
    except PathNotFound:
        from dockyard.manifest.schema1 import resign  # loads cryptography: schema1 only

        return await asyncio.to_thread(resign, body, schema1_signing_key())


async def parse_off_loop(body: bytes, media_type: str | None) -> Manifest:
    """``parse_manifest``, in a worker thread when the body is large enough to matter."""
    if len(body) >= _THREAD_PARSE_MIN:
        return await asyncio.to_thread(parse_manifest, body, media_type)
    return parse_manifest(body, media_type)


async def revisions(driver: StorageDriver, name: str) -> builtins.list[Digest]:
    """Digests of every manifest revision linked in repository ``name``, sorted."""
    return await list_leaf_digests(driver, paths.manifest_revisions_dir(name))


async def load_manifest(driver: StorageDriver, name: str, digest: Digest) -> Manifest | None:
    """The stored manifest ``digest`` of ``name`` parsed, or None if its body is missing.

    Does not check the revision link; callers that need it check first.
    """
    body_read = driver.get_content(paths.blob_data(digest))
    descriptor_read = driver.get_content(paths.manifest_descriptor(name, digest))
    body, descriptor_bytes = await asyncio.gather(
        body_read, descriptor_read, return_exceptions=True
    )
    if isinstance(body, BaseException):
        if isinstance(body, PathNotFound):
            return None
        raise body
    filed: bytes | None = None
    if isinstance(descriptor_bytes, bytes):
        filed = descriptor_bytes
    elif not isinstance(descriptor_bytes, PathNotFound):
        raise descriptor_bytes
    return await _parse_stored(driver, name, digest, body, filed)


async def _parse_stored(
    driver: StorageDriver, name: str, digest: Digest, body: bytes, descriptor_bytes: bytes | None
) -> Manifest:
    """The stored ``body`` of manifest ``digest`` parsed as its filed descriptor says."""
    media_type: str | None = None
    if descriptor_bytes is not None:
        descriptor = descriptor_from_bytes(descriptor_bytes)
        media_type = descriptor.media_type if descriptor is not None else None
    if media_type in _SCHEMA1_TYPES or (media_type is None and _is_unsigned_schema1(body)):
        # The blob holds the canonical payload; clients get it signed.
        body = await _signed_schema1(driver, name, digest, body)
        media_type = DOCKER_SCHEMA1_SIGNED
    manifest = await parse_off_loop(body, media_type)
    if manifest.digest != digest:
        # Addressed by another algorithm (sha512): the link's digest is the name it has.
        manifest = dataclasses.replace(manifest, digest=digest)
    return manifest


class StorageManifests:
    """The manifests of one repository (implements ``protocols.Manifests``)."""

    def __init__(
        self,
        name: str,
        blobs: Blobs,
        store: GlobalBlobStore,
        tags: StorageTags,
        referrers: StorageReferrers,
        cache: ManifestCache | None = None,
        policy: ManifestPolicy | None = None,
    ) -> None:
        self.name = name
        self.blobs = blobs
        #: What a pushed manifest must meet beyond its format (``validation.manifests``).
        self.policy = policy if policy is not None else ManifestPolicy()
        self.store = store
        self.tags = tags
        self.referrers = referrers
        self.driver = store.driver
        self.cache = cache

    async def exists(self, digest: Digest) -> bool:
        """Whether the repository links the manifest revision."""
        path = paths.manifest_revision_link(self.name, digest)
        return await self.driver.run(functools.partial(_exists, path), reads_only=True)

    async def _require(self, digest: Digest) -> None:
        if not await self.exists(digest):
            raise ManifestUnknown(f"manifest {digest} is unknown")

    async def get(self, reference: Digest | str) -> Manifest:
        """The stored manifest a digest or a tag names, bytes exact.

        ``ManifestUnknown`` if the digest is not in the repository, ``TagUnknown`` if the
        tag is not. The revision link is checked on every call (another instance may
        have deleted the manifest); body and parse come from the cache when the filed
        descriptor matches an entry.
        """
        digest, linked, filed = await self._find(reference)
        return await self._load(digest, linked, filed)

    async def _find(self, reference: Digest | str) -> tuple[Digest, bool, bytes | None]:
        """The digest a reference names, whether its revision is linked here, and its
        filed descriptor: one plan (by tag the hottest request of a pull)."""
        # Partials of module-level plans, so a driver may remember their results whole.
        name = self.name
        if isinstance(reference, Digest):
            linked, filed = await self.driver.run(
                functools.partial(_revision, name, reference), reads_only=True
            )
            return reference, linked, filed
        validate_tag(reference)
        found, linked, filed = await self.driver.run(
            functools.partial(_tagged_revision, name, reference), reads_only=True
        )
        if found is None:
            raise TagUnknown(f"tag {reference} is unknown")
        return found, linked, filed

    async def _load(self, digest: Digest, linked: bool, filed: bytes | None) -> Manifest:
        """The manifest ``digest`` given its revision link check and filed descriptor."""
        if not linked:
            raise ManifestUnknown(f"manifest {digest} is unknown")
        cache = self.cache
        if cache is not None and filed is not None:
            cached = cache.get(digest, filed)
            if cached is not None:
                return cached
        try:
            body = await self.driver.get_content(paths.blob_data(digest))
        except PathNotFound:
            raise ManifestUnknown(f"manifest {digest} is unknown") from None
        manifest = await _parse_stored(self.driver, self.name, digest, body, filed)
        if cache is not None and filed is not None and manifest.media_type not in _SCHEMA1_TYPES:
            # Schema1 replies are signed per process; everything else is fixed by the key.
            cache.put(digest, filed, manifest)
        return manifest

    async def stat(self, reference: Digest | str) -> Descriptor:
        """The descriptor of the manifest a digest or a tag names, from the filed
        descriptor when there is one; the errors of ``get``."""
        digest, linked, filed = await self._find(reference)
        return await self._describe(digest, linked, filed)

    async def _describe(self, digest: Digest, linked: bool, filed: bytes | None) -> Descriptor:
        if not linked:
            raise ManifestUnknown(f"manifest {digest} is unknown")
        if filed is not None:
            descriptor = descriptor_from_bytes(filed)
            if descriptor is not None and descriptor.digest == digest:
                return descriptor
        return (await self._load(digest, linked, filed)).descriptor()

    async def put(
        self, body: bytes, media_type: str | None, expected: Digest | None = None
    ) -> Manifest:
        """Parse, verify and store a manifest, then index its ``subject``."""
        manifest = await parse_off_loop(body, media_type)
        if expected is not None:
            manifest = await _addressed_as(manifest, expected)
        # validation.manifests: allowed layer URLs, and which child manifests must exist.
        children = self.policy.admit(manifest)
        stored, extra = manifest.body, None
        if manifest.media_type in _SCHEMA1_TYPES:
            from dockyard.manifest.schema1 import canonical_payload  # loads cryptography

            # As the reference: the blob is the canonical payload, so its content matches
            # its digest and either registry can serve it; the signatures are kept aside.
            stored = canonical_payload(manifest)
            extra = Put(paths.schema1_signed(self.name, manifest.digest), body)
        name = self.name
        # Looked at before the references are checked: spares the collector's guard a
        # second check of each when no collection ran or finished meanwhile.
        before = await collections(self.driver)
        await self.driver.run(lambda: _store(name, manifest, stored, extra, children))
        await hold_manifest(self.driver, self.name, manifest, children, since=before)
        await self.referrers.add(manifest)
        return manifest

    async def delete(self, digest: Digest) -> None:
        """Remove every tag pointing at the manifest, its referrers entry, then the revision."""
        await self._require(digest)
        try:
            manifest = await load_manifest(self.driver, self.name, digest)
        except (ManifestInvalid, ManifestUnverified):
            manifest = None  # not understood: still deletable, just without its referrer entry
        for tag in await self.tags.lookup(digest):
            with contextlib.suppress(TagUnknown):
                await self.tags.untag(tag)
        if manifest is not None:
            await self.referrers.remove(manifest)
        with contextlib.suppress(PathNotFound):
            await self.driver.delete(paths.manifest_descriptor(self.name, digest))
        try:
            await self.driver.delete(paths.manifest_revision_dir(self.name, digest))
        except PathNotFound:
            raise ManifestUnknown(f"manifest {digest} is unknown") from None

    async def revisions(self) -> builtins.list[Digest]:
        """Digests of every manifest revision in the repository, sorted."""
        return await revisions(self.driver, self.name)


def _exists(path: str) -> Plan[bool]:
    return (yield Size(path)) is not None


def _revision(name: str, digest: Digest) -> Plan[tuple[bool, bytes | None]]:
    """Plan: whether repository ``name`` links manifest ``digest``, and its filed
    descriptor: both read at once (one round trip to an object store, not two), the
    descriptor counting only where the link exists."""
    linked, filed = yield Each(
        (
            functools.partial(_exists, paths.manifest_revision_link(name, digest)),
            functools.partial(_read, paths.manifest_descriptor(name, digest)),
        )
    )
    return (True, filed) if linked else (False, None)


def _tagged_revision(name: str, tag: str) -> Plan[tuple[Digest | None, bool, bytes | None]]:
    """Plan: the digest ``tag`` points at (None if it is unknown), then ``_revision``."""
    digest = link_target((yield Read(paths.tag_current_link(name, tag))))
    if digest is None:
        return None, False, None
    linked, filed = yield from _revision(name, digest)
    return digest, linked, filed


def _read(path: str) -> Plan[bytes | None]:
    content: bytes | None = yield Read(path)
    return content


def _store(
    name: str, manifest: Manifest, stored: bytes, extra: Put | None, children: tuple[Digest, ...]
) -> Plan[None]:
    """Plan: ``StorageManifests.put`` after parsing.

    Raises ``ManifestBlobUnknown`` naming every blob or child manifest not held in
    repository ``name``; else stores the body (``stored``, and ``extra`` beside it), the
    filed descriptor and then the revision link, each durable before the next.
    """
    blobs = list(dict.fromkeys(d.digest for d in manifest.blob_references))
    found: list[object] = yield Each(
        [functools.partial(linked_blob_size, name, digest) for digest in blobs]
        + [
            functools.partial(_exists, paths.manifest_revision_link(name, digest))
            for digest in children
        ]
    )
    missing = [
        digest
        for digest, held in zip([*blobs, *children], found, strict=True)
        if held is None or held is False
    ]
    if missing:
        raise ManifestBlobUnknown(list(dict.fromkeys(missing)))
    digest = manifest.digest
    body = paths.blob_data(digest)
    if (yield Size(body)) != len(stored):
        yield Put(body, stored)
    if extra is not None:
        yield extra
    # The filed descriptor only spares readers a parse: should a crash of the machine lose
    # its name (never its bytes), the manifest is read from its body, as in a root the
    # reference registry wrote.
    yield Put(
        paths.manifest_descriptor(name, digest),
        descriptor_to_bytes(manifest.descriptor()),
        "content",
    )
    yield write_link(paths.manifest_revision_link(name, digest), digest)


async def _addressed_as(manifest: Manifest, expected: Digest) -> Manifest:
    """``manifest`` under the digest the client pushed it by; ``DigestInvalid`` if wrong."""
    if expected.algorithm == manifest.digest.algorithm:
        if expected != manifest.digest:
            raise DigestInvalid(f"the manifest's digest is {manifest.digest}, not {expected}")
        return manifest
    actual = await asyncio.to_thread(Digest.of, manifest.body, expected.algorithm)
    if actual != expected:
        raise DigestInvalid(f"the manifest's {expected.algorithm} digest is not {expected}")
    return dataclasses.replace(manifest, digest=expected)
