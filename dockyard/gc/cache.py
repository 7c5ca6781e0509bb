"""An in-process blob descriptor cache that never answers "exists" for swept content.

A collector clears its own process's cache and the shared Redis one; the in-memory caches
of other workers and instances learn what was swept from the sweep journals in storage
(``dockyard.gc.journal``). Before answering from memory, ``SweepAwareCache`` uses a look at
the collections' folder at most ``journal.LOOK_SECONDS`` old (one listing per interval,
however many answers; on S3 one ``ListObjectsV2``):

- a collection runs: it answers nothing from memory (every "exists" comes from storage,
  where the collector's guard sees it);
- journals it has not applied yet: it forgets the digests they list (everything, when a
  journal is gone before it was read, or does not say what it swept), then answers.

A collection writes its journal before it removes its marker, so every look sees either
the marker or the journal of a collection that swept before it; and it condemns nothing
until ``LOOK_SECONDS`` after it wrote its marker, so an answer given with a look taken
before that marker is given before anything was condemned. An entry read from
storage before a journal was applied and stored after it could be stale, so a descriptor
is kept only if no journal was applied between the miss that asked for it and its
``set``. ``docs/collection.md`` has the whole argument.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.gc.journal import LOOK_SECONDS, Collections, collections, read_journal
from dockyard.storage.cache.base import BlobDescriptorCache, RepositoryBlobCache
from dockyard.storage.cache.memory import MemoryBlobDescriptorCache
from dockyard.storage.driver.base import StorageDriver

#: Misses remembered until their ``set`` (lookups of absent blobs never get one).
_MISSES = 4096


def sweep_aware(
    cache: BlobDescriptorCache | None, driver: StorageDriver
) -> BlobDescriptorCache | None:
    """``cache`` made to forget what any collection sweeps, when it lives in this process
    (the shared Redis cache is cleared by the collector itself)."""
    if isinstance(cache, MemoryBlobDescriptorCache):
        return SweepAwareCache(cache, driver)
    return cache


class SweepAwareCache:
    """A process-local ``BlobDescriptorCache`` that applies the sweep journals before it
    answers (implements ``cache.base.BlobDescriptorCache``)."""

    def __init__(
        self,
        inner: MemoryBlobDescriptorCache,
        driver: StorageDriver,
        look_seconds: float = LOOK_SECONDS,
    ) -> None:
        self.inner = inner
        self.driver = driver
        #: How long one look is used; collections wait ``LOOK_SECONDS``, so never longer.
        self.look_seconds = min(look_seconds, LOOK_SECONDS)
        #: The last look and when it was taken (``time.monotonic``).
        self._look: Collections | None = None
        self._looked_at = 0.0
        #: The journals applied (of those still in storage); None until the first look.
        self._applied: set[str] | None = None
        #: Counts the looks that applied a journal.
        self._generation = 0
        #: The generation each recent miss happened in.
        self._misses: OrderedDict[Digest, int] = OrderedDict()
        self._applying = asyncio.Lock()
        self._looking = asyncio.Lock()

    async def get(self, digest: Digest) -> Descriptor | None:
        """The cached descriptor, unless a collection runs; journals applied first."""
        look = await self._recent_look()
        found = None if look.running else await self.inner.get(digest)
        if found is None:
            self._misses[digest] = self._generation
            self._misses.move_to_end(digest)
            while len(self._misses) > _MISSES:
                self._misses.popitem(last=False)
        return found

    async def set(self, descriptor: Descriptor) -> None:
        """Remember a descriptor read after a miss in this generation; others are dropped."""
        if self._misses.pop(descriptor.digest, None) == self._generation:
            await self.inner.set(descriptor)

    async def clear(self, digest: Digest) -> None:
        await self.inner.clear(digest)

    def repository(self, name: str) -> RepositoryBlobCache | None:
        return self.inner.repository(name)

    async def close(self) -> None:
        await self.inner.close()

    async def _recent_look(self) -> Collections:
        """A look at most ``look_seconds`` old, its journals applied: one listing (and one
        application) at a time, whatever the number of answers waiting for it."""
        look = self._look
        if look is not None and time.monotonic() - self._looked_at < self.look_seconds:
            return look
        async with self._looking:
            look = self._look
            if look is None or time.monotonic() - self._looked_at >= self.look_seconds:
                taken = time.monotonic()
                look = await collections(self.driver)
                await self._apply(look)
                self._look, self._looked_at = look, taken
        return look

    async def _apply(self, look: Collections) -> None:
        """Forget what the journals ``look`` lists and this cache has not applied swept."""
        applied = self._applied
        if applied is not None and applied.issuperset(look.journals):
            return
        async with self._applying:
            applied = self._applied
            if applied is None:
                # Nothing was cached before the first look.
                self._applied = set(look.journals)
                return
            fresh = [name for name in look.journals if name not in applied]
            if not fresh:
                return
            self._generation += 1
            known = applied | set(look.journals)
            for name in fresh:
                journal = await read_journal(self.driver, name)
                if (
                    journal is None
                    or journal.swept is None
                    or (journal.previous is not None and journal.previous not in known)
                ):
                    # Pruned before it was read, or a predecessor never seen: whatever
                    # they swept is unknown here, so everything goes.
                    await self.inner.close()
                    break
                for digest in journal.swept:
                    await self.inner.clear(digest)
            self._applied = set(look.journals)
