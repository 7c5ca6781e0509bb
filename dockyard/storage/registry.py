"""The registry services on top of a storage driver: what the HTTP layer talks to.

``StorageRegistry(driver)`` implements ``protocols.Registry``; ``.repository(name)`` gives
a ``StorageRepository`` (``protocols.Repository``) whose stores share the driver. Stores
keep no state between calls beyond what is in storage, so any number of instances and
processes can serve one storage root.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from dockyard.gc.guard import GuardedBlobs
from dockyard.gc.report import CollectionRun, last_collection
from dockyard.manifest.policy import ManifestPolicy
from dockyard.reference import validate_name
from dockyard.scrub.report import ScrubRun, last_scrub
from dockyard.storage import paths
from dockyard.storage.blobs import GlobalBlobStore, LinkedBlobStore
from dockyard.storage.cache.base import BlobDescriptorCache
from dockyard.storage.cache.cached import cached_blobs
from dockyard.storage.catalog import catalog
from dockyard.storage.driver.base import PathNotFound, StorageDriver
from dockyard.storage.manifest_cache import ManifestCache
from dockyard.storage.manifests import StorageManifests
from dockyard.storage.protocols import Blobs, Page, Registry, Repository, UploadStatus
from dockyard.storage.referrers import StorageReferrers
from dockyard.storage.tags import StorageTags
from dockyard.storage.uploads import SessionLocks, StorageUploads, purge_uploads, upload_sessions


class StorageRepository:
    """One repository's stores (implements ``protocols.Repository``)."""

    def __init__(
        self,
        name: str,
        store: GlobalBlobStore,
        manifest_cache: ManifestCache | None = None,
        session_locks: SessionLocks | None = None,
        manifest_policy: ManifestPolicy | None = None,
    ) -> None:
        self._name = name
        self.driver = store.driver
        linked = LinkedBlobStore(name, store)
        # The one place the cache decorates a repository's blobs: every store and every
        # handler sees the blobs through it. Uploads only add links, which it need not see.
        # Outermost, so that every "exists" answered is held against a running collection.
        self._blobs = GuardedBlobs(cached_blobs(name, linked, store.cache), self.driver)
        self._uploads = StorageUploads(name, linked, session_locks)
        self._tags = StorageTags(name, self.driver)
        self._referrers = StorageReferrers(name, self.driver)
        self._manifests = StorageManifests(
            name, self._blobs, store, self._tags, self._referrers, manifest_cache, manifest_policy
        )

    @property
    def name(self) -> str:
        return self._name

    @property
    def blobs(self) -> Blobs:
        return self._blobs

    @property
    def uploads(self) -> StorageUploads:
        return self._uploads

    @property
    def manifests(self) -> StorageManifests:
        return self._manifests

    @property
    def tags(self) -> StorageTags:
        return self._tags

    @property
    def referrers(self) -> StorageReferrers:
        return self._referrers

    async def exists(self) -> bool:
        """Whether the repository's folder exists (anything was ever pushed to it)."""
        try:
            info = await self.driver.stat(paths.repository(self._name))
        except PathNotFound:
            return False
        return info.is_dir


class StorageRegistry:
    """The registry over one storage driver (implements ``protocols.Registry``)."""

    def __init__(
        self,
        driver: StorageDriver,
        *,
        blob_descriptor_cache: BlobDescriptorCache | None = None,
        manifest_policy: ManifestPolicy | None = None,
    ) -> None:
        self.driver = driver
        #: What pushed manifests must meet beyond their format (``validation.manifests``).
        self.manifest_policy = manifest_policy if manifest_policy is not None else ManifestPolicy()
        self.blob_store = GlobalBlobStore(driver, blob_descriptor_cache)
        #: Parsed manifests by content, shared by every repository of this registry.
        self.manifest_cache = ManifestCache()
        #: The upload sessions this instance is writing to, shared by its repositories.
        self.session_locks = SessionLocks()

    def repository(self, name: str) -> StorageRepository:
        """The repository called ``name``; ``NameInvalid`` if the name is not valid."""
        return StorageRepository(
            validate_name(name),
            self.blob_store,
            self.manifest_cache,
            self.session_locks,
            self.manifest_policy,
        )

    async def catalog(self, last: str | None = None, n: int | None = None) -> Page:
        """Repository names sorted lexically, after ``last``, at most ``n``."""
        return await catalog(self.driver, last, n)

    async def upload_sessions(self, repositories: Sequence[str]) -> list[UploadStatus]:
        """The open upload sessions of ``repositories``, oldest first."""
        names = [validate_name(name) for name in repositories]
        return await upload_sessions(self.driver, lambda name: self.repository(name).uploads, names)

    async def last_collection(self) -> CollectionRun | None:
        """What the last garbage collection did, as it recorded; None if none ran."""
        return await last_collection(self.driver)

    async def last_scrub(self) -> ScrubRun | None:
        """What the last scrub checked and found, as it recorded; None if none ran."""
        return await last_scrub(self.driver)

    async def delete_repository(self, name: str) -> None:
        """Remove repository ``name``'s tags, manifests and links (content stays until GC)."""
        from dockyard.maintenance.repositories import delete_repository

        await delete_repository(self.driver, name)

    async def purge_uploads(self, older_than: timedelta) -> int:
        """Remove upload sessions of every repository started longer ago than ``older_than``."""
        return await purge_uploads(self.driver, older_than)

    async def close(self) -> None:
        """Release what the registry holds: the driver's and the cache's connections."""
        try:
            await self.driver.close()
        finally:
            close_cache = getattr(self.blob_store.cache, "close", None)
            if close_cache is not None:
                await close_cache()


if TYPE_CHECKING:
    # mypy proves here that the stores implement the service protocols.
    def _conforms(registry: StorageRegistry, repository: StorageRepository) -> None:
        _registry: Registry = registry
        _repository: Repository = repository
