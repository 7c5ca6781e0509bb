"""Timing (and tracing) of every storage driver call, as a decorator around the driver.

``InstrumentedDriver`` wraps whichever driver the configuration names, in one place
(``dockyard.assembly.assemble``), so every store above it is measured without knowing:
the async calls, the plans it carries out, and the writers it returns. Each call is one
observation of ``registry_storage_action_seconds{driver, action}`` under the reference's
action names (``GetContent``, ``PutContent``, ``Stat``, ``List``, ``Move``, ``Delete``,
``Reader``, ``Writer`` …), and, when tracing is on, one span. A plan is carried out whole
by the driver (in one worker thread on local storage), so it is one observation too,
named after the operation it carries out: ``plan:<module>.<plan function>``, such as
``plan:manifests.store`` or ``plan:blobs.read_link`` (see ``plan_action``).

Every call is timed on the event loop of the process that made it (a plan's worker
thread is inside the timed call, not around it), so the histogram is updated without a
lock, as the HTTP metrics are.
"""

from __future__ import annotations

import builtins
import functools
import inspect
import time
from bisect import bisect_left
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar, runtime_checkable

from dockyard.observability.metrics import METRICS, Histogram
from dockyard.storage.driver.base import FileInfo, FileWriter, OpenFile, StorageDriver
from dockyard.storage.driver.plan import Plan

if TYPE_CHECKING:
    from dockyard.descriptor import Descriptor
    from dockyard.digest import Digest
    from dockyard.storage.cache.base import BlobDescriptorCache, RepositoryBlobCache

T = TypeVar("T")

#: Opens a span named after a storage action (``tracing.storage_span``), or does nothing.
SpanFactory = Callable[[str, str], AbstractContextManager[object]]


def _no_span(driver: str, action: str) -> AbstractContextManager[object]:
    return nullcontext()


#: The action of a plan whose operation cannot be named.
PLAN: Final = "Plan"
#: Plan callables are a fixed set of code objects and functions; more means something else.
_MAX_PLAN_ACTIONS: Final = 1024
_plan_actions: dict[object, str] = {}


def plan_action(plan: Callable[[], Plan[Any]]) -> str:
    """The action label of ``plan``: ``plan:<module>.<plan function>``.

    Stores pass plans as ``lambda: _store(...)``, ``functools.partial(_write, ...)`` or
    the plan function itself; the name is worked out once per code object and then
    found with one dictionary lookup.
    """
    key: object = getattr(plan, "__code__", None)
    if key is None:
        key = plan.func if isinstance(plan, functools.partial) else plan
    action = _plan_actions.get(key)
    if action is None:
        action = _name_plan(plan)
        if len(_plan_actions) < _MAX_PLAN_ACTIONS:
            _plan_actions[key] = action
    return action


def _name_plan(plan: Callable[[], Plan[Any]]) -> str:
    target: object = plan.func if isinstance(plan, functools.partial) else plan
    code = getattr(target, "__code__", None)
    if code is not None and code.co_name == "<lambda>":
        # The plan function is the global the lambda calls (attributes are names too).
        scope = getattr(target, "__globals__", {})
        called = [scope.get(name) for name in code.co_names]
        plans = [f for f in called if inspect.isgeneratorfunction(f)]
        target = plans[0] if plans else None
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__qualname__", None) or ""
    if not name or "<" in name:
        return PLAN
    return f"plan:{module.rpartition('.')[2]}.{name.lstrip('_')}"


class ActionTimer:
    """Observes storage action durations for one driver (on the event loop).

    ``time`` is a context manager only when tracing needs a span around the call; else
    it is a start time, and ``done`` observes: no generator or span per storage call.
    """

    def __init__(
        self,
        driver: str,
        histogram: Histogram = METRICS.storage_action,
        span: SpanFactory = _no_span,
    ) -> None:
        self.driver = driver
        self.histogram = histogram
        self.span = span
        self.traced = span is not _no_span
        self._bounds = histogram.bounds
        self._rows: dict[str, list[float]] = {}

    @contextmanager
    def time(self, action: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            with self.span(self.driver, action):
                yield
        finally:
            self.done(action, started)

    def done(self, action: str, started: float) -> None:
        """Observe a call of ``action`` that started at ``started`` (``perf_counter``)."""
        elapsed = time.perf_counter() - started
        row = self._rows.get(action)
        if row is None:
            row = self._rows[action] = self.histogram.row((self.driver, action))
        row[0] += elapsed
        row[1 + bisect_left(self._bounds, elapsed)] += 1


class InstrumentedDriver(StorageDriver):
    """A storage driver that times every call of the driver it wraps."""

    def __init__(self, driver: StorageDriver, span: SpanFactory = _no_span) -> None:
        self.inner = driver
        self.name = driver.name
        self.timer = ActionTimer(driver.name, span=span)

    async def get_content(self, path: str) -> bytes:
        if self.timer.traced:
            with self.timer.time("GetContent"):
                return await self.inner.get_content(path)
        started = time.perf_counter()
        try:
            return await self.inner.get_content(path)
        finally:
            self.timer.done("GetContent", started)

    async def put_content(self, path: str, content: bytes) -> None:
        with self.timer.time("PutContent"):
            await self.inner.put_content(path, content)

    async def reader(
        self, path: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        with self.timer.time("Reader"):
            return await self.inner.reader(path, offset, length)

    async def writer(self, path: str, append: bool = False) -> FileWriter:
        with self.timer.time("Writer"):
            return _TimedWriter(await self.inner.writer(path, append), self.timer)

    async def stat(self, path: str) -> FileInfo:
        if self.timer.traced:
            with self.timer.time("Stat"):
                return await self.inner.stat(path)
        started = time.perf_counter()
        try:
            return await self.inner.stat(path)
        finally:
            self.timer.done("Stat", started)

    async def list(self, path: str) -> builtins.list[str]:
        with self.timer.time("List"):
            return await self.inner.list(path)

    async def move(self, source: str, destination: str) -> None:
        with self.timer.time("Move"):
            await self.inner.move(source, destination)

    async def delete(self, path: str) -> None:
        with self.timer.time("Delete"):
            await self.inner.delete(path)

    async def delete_many(self, paths: Sequence[str]) -> None:
        with self.timer.time("DeleteMany"):
            await self.inner.delete_many(paths)

    async def walk(
        self, path: str, skip_dir: Callable[[FileInfo], bool] | None = None
    ) -> AsyncIterator[FileInfo]:
        with self.timer.time("Walk"):
            async for info in self.inner.walk(path, skip_dir):
                yield info

    async def list_names(self, paths: Sequence[str]) -> builtins.list[builtins.list[str] | None]:
        with self.timer.time("List"):
            return await self.inner.list_names(paths)

    async def run(self, plan: Callable[[], Plan[T]], *, reads_only: bool = False) -> T:
        action = plan_action(plan)
        if self.timer.traced:
            with self.timer.time(action):
                return await self.inner.run(plan, reads_only=reads_only)
        started = time.perf_counter()
        try:
            return await self.inner.run(plan, reads_only=reads_only)
        finally:
            self.timer.done(action, started)

    async def redirect_url(self, path: str, method: str = "GET") -> str | None:
        with self.timer.time("RedirectURL"):
            return await self.inner.redirect_url(path, method)

    def open_file(self, path: str) -> OpenFile | None:
        return self.inner.open_file(path)

    async def close(self) -> None:
        await self.inner.close()


class _TimedWriter(FileWriter):
    def __init__(self, inner: FileWriter, timer: ActionTimer) -> None:
        self.inner = inner
        self.timer = timer

    @property
    def size(self) -> int:
        return self.inner.size

    async def write(self, data: bytes) -> int:
        with self.timer.time("Write"):
            return await self.inner.write(data)

    async def truncate(self, size: int) -> None:
        with self.timer.time("Truncate"):
            await self.inner.truncate(size)

    async def close(self) -> None:
        with self.timer.time("Close"):
            await self.inner.close()

    async def commit(self) -> None:
        with self.timer.time("Commit"):
            await self.inner.commit()

    async def cancel(self) -> None:
        with self.timer.time("Cancel"):
            await self.inner.cancel()


class _InstrumentedRepositoryCache:
    """Counts a cache's lookups and hits (``registry_storage_cache_*``)."""

    def __init__(self, inner: RepositoryBlobCache) -> None:
        self.inner = inner

    async def get(self, digest: Digest) -> Descriptor | None:
        descriptor = await self.inner.get(digest)
        _count_lookup(descriptor)
        return descriptor

    async def set(self, descriptor: Descriptor) -> None:
        await self.inner.set(descriptor)

    async def clear(self, digest: Digest) -> None:
        await self.inner.clear(digest)


@runtime_checkable
class ReportsFailures(Protocol):
    """A cache that can fail (Redis) and says so through ``on_failure``."""

    on_failure: Callable[[], None] | None


class InstrumentedCache(_InstrumentedRepositoryCache):
    """The blob-descriptor cache, its lookups, hits and errors counted, and its repositories'.

    A cache answers a miss (or does nothing) for its own failures, so only the cache
    knows of them: one that can fail reports each to ``registry_storage_cache_errors_total``
    through its ``on_failure`` hook. The in-memory cache cannot fail.
    """

    inner: BlobDescriptorCache

    def __init__(self, inner: BlobDescriptorCache) -> None:
        super().__init__(inner)
        self.inner = inner
        if isinstance(inner, ReportsFailures):
            inner.on_failure = METRICS.cache_errors.inc

    def repository(self, name: str) -> RepositoryBlobCache | None:
        inner = self.inner.repository(name)
        return None if inner is None else _InstrumentedRepositoryCache(inner)

    async def close(self) -> None:
        await self.inner.close()


def _count_lookup(found: object) -> None:
    METRICS.cache_requests.inc()
    if found is not None:
        METRICS.cache_hits.inc()


if TYPE_CHECKING:

    def _caches(cache: InstrumentedCache, repository: _InstrumentedRepositoryCache) -> None:
        _cache: BlobDescriptorCache = cache
        _repository: RepositoryBlobCache = repository
