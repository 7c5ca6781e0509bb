"""The registry with its proxied namespaces: routing, background completion, expiry.

``ProxyRegistry`` decorates ``protocols.Registry``: ``repository(name)`` gives a
``ProxyRepository`` for a name an upstream serves (below its prefix, or every name not
served otherwise for an upstream without one) and the store's own repository for the
rest, which stay pushable. It owns what outlives a request: the upstream clients, the
running blob downloads, the tasks that store fetched manifests once their blobs are
there, and the expiry that unlinks repositories nobody pulled from for their TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

from dockyard.errors import BlobUnknown, ManifestUnknown, StorageUnavailable, TagUnknown
from dockyard.manifest import Manifest
from dockyard.proxy.client import UpstreamClient
from dockyard.proxy.fetch import BlobFetches
from dockyard.proxy.leases import Leases
from dockyard.proxy.repository import ProxyRepository, Route
from dockyard.proxy.settings import ProxyConfig
from dockyard.proxy.state import ProxyState, proxied_repositories
from dockyard.proxy.tasks import TaskSet
from dockyard.reference import validate_name
from dockyard.storage.driver.base import StorageDriver
from dockyard.storage.protocols import Page, Registry, Repository, UploadStatus

if TYPE_CHECKING:
    from dockyard.gc.report import CollectionRun
    from dockyard.scrub.report import ScrubRun

logger = logging.getLogger("dockyard.proxy")
T = TypeVar("T")

#: Fetched content not asked for by the pull that fetched its manifest is fetched this
#: long after, so that the pull's own requests receive their blobs as they arrive.
COMPLETION_DELAY: Final = 1.0
#: Indexes per repository kept waiting for their manifests (one platform pulled of many
#: leaves the others' missing for good).
_WAITING_INDEXES: Final = 32
#: A repository's access time is written at most this often per worker.
_TOUCH_SECONDS: Final = 60.0


class ProxyRegistry:
    """``protocols.Registry`` with the namespaces of ``config`` served from upstreams."""

    def __init__(
        self,
        inner: Registry,
        driver: StorageDriver,
        config: ProxyConfig,
        leases: Leases,
        clients: list[UpstreamClient] | None = None,
        *,
        read_only: bool = False,
    ) -> None:
        self.inner = inner
        #: In read-only mode (while garbage is collected) only cached content is served:
        #: nothing is fetched into the store.
        self.read_only = read_only
        self.driver = driver
        self.config = config
        self.leases = leases
        self.clients = clients or [UpstreamClient(u) for u in config.all_upstreams]
        self.fetches = BlobFetches(leases)
        self._tasks = TaskSet()
        self._completing: set[tuple[str, str]] = set()
        self._touched: dict[str, float] = {}
        self._shared: dict[str, asyncio.Future[Any]] = {}
        #: Indexes waiting for their manifests to be stored, by repository.
        self._waiting: dict[str, dict[str, tuple[Manifest, str | None]]] = {}

    # --- routing --------------------------------------------------------------------------

    def route(self, name: str) -> Route | None:
        """The upstream that serves repository ``name``, if one does."""
        catch_all: UpstreamClient | None = None
        for client in self.clients:
            prefix = client.config.prefix
            if not prefix:
                catch_all = client
            elif name.startswith(prefix) and len(name) > len(prefix):
                return Route(client, self._remote(client, name[len(prefix) :]))
        if catch_all is None:
            return None
        return Route(catch_all, self._remote(catch_all, name))

    @staticmethod
    def _remote(client: UpstreamClient, name: str) -> str:
        if client.config.adds_library and "/" not in name:
            return f"library/{name}"
        return name

    def repository(self, name: str) -> Repository:
        inner = self.inner.repository(validate_name(name))
        route = self.route(name)
        if route is None:
            return inner
        return ProxyRepository(inner, route, self)

    async def catalog(self, last: str | None = None, n: int | None = None) -> Page:
        return await self.inner.catalog(last, n)

    async def upload_sessions(self, repositories: Sequence[str]) -> list[UploadStatus]:
        return await self.inner.upload_sessions(repositories)

    async def last_collection(self) -> CollectionRun | None:
        return await self.inner.last_collection()

    async def last_scrub(self) -> ScrubRun | None:
        return await self.inner.last_scrub()

    async def once(self, key: str, work: Callable[[], Awaitable[T]]) -> T:
        """``work()``'s result, shared by every caller asking for ``key`` while it runs."""
        running = self._shared.get(key)
        if running is None:
            running = asyncio.ensure_future(work())
            self._shared[key] = running
            running.add_done_callback(lambda _: self._shared.pop(key, None))
        return await asyncio.shield(running)

    # --- background work ------------------------------------------------------------------

    def complete(self, repository: ProxyRepository, manifest: Manifest, tag: str | None) -> None:
        """Store ``manifest`` in ``repository`` soon, fetching what it still lacks."""
        key = (repository.name, str(manifest.digest))
        if key in self._completing or self.read_only:
            return
        self._completing.add(key)

        async def run() -> None:
            try:
                await asyncio.sleep(COMPLETION_DELAY)
                stored = await repository.manifests.complete(manifest, tag)
                waiting = self._waiting.setdefault(repository.name, {})
                if not stored:
                    waiting[str(manifest.digest)] = (manifest, tag)
                    while len(waiting) > _WAITING_INDEXES:
                        # The oldest goes; pulling it again brings it back.
                        del waiting[next(iter(waiting))]
                    return
                waiting.pop(str(manifest.digest), None)
                if not manifest.is_index:
                    for index, index_tag in list(waiting.values()):
                        if await repository.manifests.complete(index, index_tag):
                            waiting.pop(str(index.digest), None)
            except Exception as error:
                logger.warning(
                    "proxy: could not store %s@%s yet (%s: %s)",
                    repository.name,
                    manifest.digest,
                    type(error).__name__,
                    getattr(error, "message", error),
                )
            finally:
                self._completing.discard(key)

        self._tasks.spawn(run())

    async def touch(self, repository: ProxyRepository) -> None:
        """Record a pull from the repository, restarting its TTL."""
        now = time.monotonic()
        every = min(_TOUCH_SECONDS, repository.route.ttl.total_seconds() / 10)
        last = self._touched.get(repository.name)
        if last is not None and now - last < every:
            return
        self._touched[repository.name] = now
        await repository.state.touch()

    async def expire(self) -> list[str]:
        """Unlink every proxied repository not pulled from for its TTL; returns their names.

        Only this repository's links, tags and records go: a blob another repository
        links stays linked there, and content is reclaimed by garbage collection.
        """
        expired = []
        for name in await proxied_repositories(self.driver):
            route = self.route(name)
            if route is None:
                continue
            state = ProxyState(self.driver, name)
            async with self.leases.hold(f"expire\0{name}"):
                accessed = await state.accessed()
                if accessed is None or time.time() - accessed < route.ttl.total_seconds():
                    continue
                await self._unlink(name, state)
            self._touched.pop(name, None)
            self._waiting.pop(name, None)
            expired.append(name)
            logger.info("proxy: %s expired (not pulled for %s)", name, route.ttl)
        return expired

    async def _unlink(self, name: str, state: ProxyState) -> None:
        inner = self.inner.repository(name)
        for tag in await state.tags():
            with contextlib.suppress(TagUnknown):
                await inner.tags.untag(tag)
        for digest in await state.manifests():
            with contextlib.suppress(ManifestUnknown):
                await inner.manifests.delete(digest)
        for digest in await state.blobs():
            with contextlib.suppress(BlobUnknown):
                await inner.blobs.delete(digest)
        await state.forget()

    async def expire_periodically(self) -> None:
        """``expire`` every ``proxy.expiry.interval``, for as long as the server runs."""
        interval = self.config.expiry_interval.total_seconds()
        while True:
            await asyncio.sleep(interval)
            try:
                await self.expire()
            except Exception:
                logger.exception("proxy: expiry failed; retrying at the next interval")

    def refuse_if_read_only(self) -> None:
        if self.read_only:
            raise StorageUnavailable(
                "the registry is in read-only mode: only cached content is served"
            )

    async def close(self) -> None:
        """Stop background work and close the upstream connections."""
        await self._tasks.close()
        await self.fetches.close()
        for client in self.clients:
            await client.close()
