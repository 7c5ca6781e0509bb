"""Producing notification events: a decorator around the storage services.

Why a decorator around the ``storage.protocols`` services rather than a hook in each
handler: it sees every push, pull, mount and delete whichever handler (or future
caller) made it, and it knows what the storage knows (the manifest's descriptor and its
references, the committed blob's digest and size) without re-parsing requests. What
only the HTTP layer knows (request id, client address, host, user agent, and the user
the authorizer admitted) comes from ``NotificationMiddleware``, which puts the ASGI scope
in a context variable for the request, and from ``ActorRecorder``, a decorator around
the authorizer that notes the admitted user in that scope. Both are applied once, in
``dockyard.assembly.build_app``.

Events of writes are queued durably before the response starts (a push the client saw
succeed always has its event on disk, or in Redis); events of reads are queued without
waiting, so pulls stay fast, and reach the queue within milliseconds. A pull is made on
every manifest and blob GET, so the request only notes it (a tuple of what it already
holds: the thing pulled, the tag, the request's scope and id, the time); the journal's
writer makes the event (its target, request, actor, id and JSON) off the request's path.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import time
from collections.abc import AsyncIterable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Final, Generic, TypeAlias, TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.config.model import EndpointConfig
from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.logs import request_id
from dockyard.lru import charge
from dockyard.manifest.base import Manifest
from dockyard.notifications import events
from dockyard.notifications.delivery import Deliverer
from dockyard.notifications.events import Event, Target
from dockyard.notifications.store import Encoded, QueueStore
from dockyard.observability.metrics import METRICS
from dockyard.observability.tasks import cancel_all
from dockyard.storage.protocols import (
    BlobContent,
    Blobs,
    Manifests,
    Page,
    Referrers,
    Registry,
    Repository,
    TagRecord,
    Tags,
    Uploads,
    UploadStatus,
)

if TYPE_CHECKING:
    from dockyard.auth.base import Access, Authorizer, Principal
    from dockyard.auth.base import Request as AuthRequest
    from dockyard.gc.report import CollectionRun
    from dockyard.scrub.report import ScrubRun

logger = logging.getLogger("dockyard.notifications")

#: The request being served (its ASGI scope), for events made while serving it.
_SCOPE: ContextVar[Scope | None] = ContextVar("dockyard_notification_scope", default=None)
_PENDING: Final = "dockyard.notifications.pending"
_ACTOR: Final = "dockyard.notifications.actor"
_RESOLVED: Final = "dockyard.notifications.resolved"
_REQUEST: Final = "dockyard.notifications.request"
_WRITES: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Events of reads held in memory at most before queuing them waits for the disk.
MAX_BUFFERED: Final = 10_000
#: How long the events of reads may wait to be written together.
COALESCE_SECONDS: Final = 0.01
#: Targets of pulls (and the JSON their events share) kept for the next pull of the same
#: thing, at most, and the memory each memo may hold: when either is reached, all are
#: forgotten. Keys hold client-sent text (user agent, host), so the bytes bound matters.
PULL_TARGETS_KEPT: Final = 4096
PULL_MEMO_BYTES: Final = 2 << 20

_V = TypeVar("_V")

#: A pull as the request notes it: repository, what was pulled (a manifest, or a blob's
#: descriptor), the tag it was pulled by, the request's ASGI scope and its request id.
#: ``Notifier.encode_pull`` makes it an event, off the request's path.
PullRecord: TypeAlias = "tuple[str, Manifest | Descriptor, str | None, Scope, str]"
#: What waits in the journal's buffer: when it was queued (wall clock, ns), and the event
#: or the pull to make one of.
Queued: TypeAlias = "tuple[int, Event | PullRecord]"


class Journal:
    """This process's side of the durable queue: appends events, runs the deliverers."""

    def __init__(
        self, store: QueueStore, endpoints: Sequence[EndpointConfig], source: events.Source
    ) -> None:
        self.endpoints = [e for e in endpoints if not e.disabled]
        self.store = store
        self.source = source
        self._source_json = source.json
        #: Actions some endpoint takes: others are not even made into events.
        self.actions = frozenset(
            action
            for action in events.ACTIONS
            if any(action not in e.ignored_actions for e in self.endpoints)
        )
        self._buffer: list[Queued] = []
        self._waiters: list[asyncio.Future[None]] = []
        #: The ordering key of the last event encoded (only the writer's thread moves it).
        self._last_sequence = 0
        self._wakeup = asyncio.Event()
        self._stopping = False
        #: ``registry_notifications_events_total{type="Events"}`` per action, found once.
        self._queued = {
            action: METRICS.notification_events.cell(("Events", action, "*"))
            for action in events.ACTIONS
        }
        self._pulls = self._queued["pull"]
        #: Makes a pull's event from what the request noted (set by the ``Notifier``):
        #: its target's media type and its JSON.
        self.encode_pull: Callable[[PullRecord, int], tuple[str | None, bytes]] = _no_pulls
        self._deliverers = [Deliverer(e, store.queue(e.name)) for e in self.endpoints]
        self._flusher: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def add(self, batch: Sequence[Event], durable: bool) -> asyncio.Future[None] | None:
        """Queue ``batch``; returns a future to await when it must be (or must wait) on disk."""
        now = time.time_ns()
        for event in batch:
            self._buffer.append((now, event))
            self._queued[event.action][0] += 1
        self._wakeup.set()
        if durable or len(self._buffer) > MAX_BUFFERED:
            return self._waiter()
        return None

    def pull(self, record: PullRecord) -> asyncio.Future[None] | None:
        """Queue the event of a pull (made later, by ``encode_pull``); returns a future to
        await only while the buffer is full."""
        buffer = self._buffer
        buffer.append((time.time_ns(), record))
        self._pulls[0] += 1
        self._wakeup.set()
        if len(buffer) > MAX_BUFFERED:
            return self._waiter()
        return None

    def _waiter(self) -> asyncio.Future[None]:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return waiter

    def start(self) -> None:
        # httpx logs every request at INFO: one line per delivered batch is noise.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        self._flusher = asyncio.create_task(self._flush_loop())
        self._tasks.extend(asyncio.create_task(d.run()) for d in self._deliverers)

    async def stop(self) -> None:
        await cancel_all(self._tasks)
        if self._flusher is not None:
            # Not cancelled: a write in its thread would go on beside the last one.
            self._stopping = True
            self._wakeup.set()
            await self._flusher
        await self._flush()
        await self.store.close()

    async def _flush_loop(self) -> None:
        while not self._stopping:
            await self._wakeup.wait()
            if not self._waiters and not self._stopping:
                # Only reads' events wait: gather a few milliseconds' worth per disk write.
                await asyncio.sleep(COALESCE_SECONDS)
            self._wakeup.clear()
            await self._flush()

    async def _flush(self) -> None:
        batch, self._buffer = self._buffer, []
        waiters, self._waiters = self._waiters, []
        if not batch:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
            return
        try:
            await self.store.append(lambda: self._encode(batch), bool(waiters))
        except Exception as error:
            logger.error("notifications: could not queue %d event(s): %s", len(batch), error)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(error)
            return
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        for deliverer in self._deliverers:
            deliverer.wakeup.set()

    def _encode(self, batch: list[Queued]) -> Encoded:
        """Each endpoint's share of ``batch``, encoded once (runs off the event loop).

        The ordering key of an event is when it was queued, in nanoseconds, made strictly
        increasing: events of one repository keep their order across workers.
        """
        source = self._source_json
        encode_pull = self.encode_pull
        sequence = self._last_sequence
        encoded: list[tuple[str, str | None, tuple[int, str, bytes]]] = []
        for queued, item in batch:
            sequence = queued if queued > sequence else sequence + 1
            if isinstance(item, Event):
                raw = events.encode(item, source)
                encoded.append((item.action, item.target.media_type, (sequence, item.action, raw)))
            else:
                media_type, raw = encode_pull(item, queued)
                encoded.append(("pull", media_type, (sequence, "pull", raw)))
        self._last_sequence = sequence
        shares: Encoded = {}
        for endpoint in self.endpoints:
            ignored_actions, ignored_types = endpoint.ignored_actions, endpoint.ignored_mediatypes
            share = [
                item
                for action, media_type, item in encoded
                if action not in ignored_actions and media_type not in ignored_types
            ]
            if share:
                shares[endpoint.name] = share
        return shares


def _no_pulls(record: PullRecord, queued: int) -> tuple[str | None, bytes]:
    raise RuntimeError("a pull was queued in a journal without a notifier")


class _PullMemo(Generic[_V]):
    """What pulls of one thing share, by what identifies it: emptied whenever it holds
    ``PULL_TARGETS_KEPT`` entries or ``PULL_MEMO_BYTES`` (each entry charged its key's
    and value's ``deep_size``). Pulls repeat, so starting over costs one miss per thing
    pulled; only the journal's writer adds to it while serving (pulls outside a request
    are rare and use the event loop's thread, where a lost entry is only a miss)."""

    __slots__ = ("_bytes", "_entries")

    def __init__(self) -> None:
        self._entries: dict[tuple[object, ...], _V] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def charged_bytes(self) -> int:
        return self._bytes

    def get(self, key: tuple[object, ...]) -> _V | None:
        return self._entries.get(key)

    def put(self, key: tuple[object, ...], value: _V) -> None:
        charged = charge((key, value))
        if len(self._entries) >= PULL_TARGETS_KEPT or self._bytes + charged > PULL_MEMO_BYTES:
            self._entries.clear()
            self._bytes = 0
        if charged <= PULL_MEMO_BYTES:
            self._entries[key] = value
            self._bytes += charged

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0


class Notifier:
    """Makes events for the storage decorators and hands them to the journal."""

    def __init__(self, journal: Journal, *, include_references: bool, host: str | None) -> None:
        self.journal = journal
        self.include_references = include_references
        self.host = host.rstrip("/") if host else None
        #: Whether some endpoint takes pulls (else a pull makes no event at all).
        self.pulls = "pull" in journal.actions
        self._pulled: _PullMemo[Target] = _PullMemo()
        #: What events of repeated pulls share (see ``encode_pull``), and their media type.
        self._pull_parts: _PullMemo[tuple[str | None, tuple[str, str]]] = _PullMemo()
        self._source_json = journal.source.json
        journal.encode_pull = self.encode_pull

    def wants(self, action: str) -> bool:
        """Whether some endpoint takes events of ``action`` (others are not made at all)."""
        return action in self.journal.actions

    async def emit(self, action: str, target: Target) -> None:
        """Queue an event; during a write request it is queued before the response."""
        if action not in self.journal.actions:
            return
        scope = _SCOPE.get()
        event = Event(action, target, _request(scope), scope.get(_ACTOR) if scope else None)
        if scope is not None and scope["method"] in _WRITES:
            scope.setdefault(_PENDING, []).append(event)
            return
        waiter = self.journal.add([event], durable=scope is None)
        if waiter is not None:
            await waiter

    def pulled(
        self, repository: str, subject: Manifest | Descriptor, tag: str | None
    ) -> asyncio.Future[None] | None:
        """Queue the pull of ``subject`` (a manifest, or a blob's descriptor) by ``tag``;
        returns a future to await when the event must be (or must wait to be) queued.

        During a request only a tuple is noted; ``encode_pull`` makes the event later, in
        the journal's writer. Outside a request the event is made now and queued durably.
        """
        scope = _SCOPE.get()
        if scope is None:
            target = self._pull_target(repository, subject, tag, self._base_url())
            return self.journal.add([Event("pull", target, None, None)], durable=True)
        return self.journal.pull((repository, subject, tag, scope, request_id.get()))

    def encode_pull(self, record: PullRecord, queued: int) -> tuple[str | None, bytes]:
        """The event of a pull the request noted as ``record`` at ``queued`` (ns): its
        target's media type and its JSON (runs in the journal's writer, off the loop).

        Repeated pulls of one thing by one kind of client differ only in their id, time,
        request id and address: the rest of their JSON is made once and kept, by what was
        pulled (digest and tag, or the blob's descriptor) and what the request says about
        its client.
        """
        repository, subject, tag, scope, identity = record
        host, agent = _host_and_agent(scope)
        scheme: str = scope.get("scheme", "http")
        method: str = scope["method"]
        actor: str | None = scope.get(_ACTOR)
        what: tuple[object, ...] = (
            (subject.digest, subject.media_type, subject.size)
            if isinstance(subject, Descriptor)
            else (subject.digest, tag)
        )
        known_key = (repository, *what, scheme, host, agent, method, actor)
        known = self._pull_parts.get(known_key)
        if known is None:
            base = self.host or f"{scheme}://{host}"
            target = self._pull_target(repository, subject, tag, base)
            tail = events.fragments.tail(host, method, agent)
            parts = events.shared_parts(
                "pull",
                events.fragments.target(target),
                tail,
                events.actor_json(actor),
                self._source_json,
            )
            known = (target.media_type, parts)
            self._pull_parts.put(known_key, known)
        raw = events.encode_with(known[1], queued / 1e9, identity or events.new_id(), _addr(scope))
        return known[0], raw

    def _base_url(self) -> str:
        if self.host is not None:
            return self.host
        scope = _SCOPE.get()
        if scope is None:
            return ""
        request = _request(scope)
        return f"{scope.get('scheme', 'http')}://{request[2] if request else ''}"

    def manifest_target(
        self, repository: str, manifest: Manifest, tag: str | None = None, base: str | None = None
    ) -> Target:
        references = (
            [*manifest.blob_references, *manifest.manifests] if self.include_references else None
        )
        base = self._base_url() if base is None else base
        return Target(
            repository,
            str(manifest.digest),
            manifest.media_type,
            len(manifest.body),
            f"{base}/v2/{repository}/manifests/{manifest.digest}",
            tag,
            references=references,
        )

    def _pull_target(
        self, repository: str, subject: Manifest | Descriptor, tag: str | None, base: str
    ) -> Target:
        """A pull's target, made once per thing pulled and base URL: pulls repeat, and the
        events of pulls share their target (only a push's target is ever changed, by its
        tag; see ``NotifyingTags.tag``)."""
        if isinstance(subject, Descriptor):
            key: tuple[object, ...] = (repository, subject.digest, subject.media_type)
            key += (subject.size, base)
        else:
            key = (repository, subject.digest, tag, base)
        target = self._pulled.get(key)
        if target is None:
            if isinstance(subject, Descriptor):
                target = self.blob_target(repository, subject, base=base)
            else:
                target = self.manifest_target(repository, subject, tag, base)
            self._pulled.put(key, target)
        return target

    def blob_target(
        self,
        repository: str,
        descriptor: Descriptor,
        from_repository: str | None = None,
        base: str | None = None,
    ) -> Target:
        base = self._base_url() if base is None else base
        return Target(
            repository,
            str(descriptor.digest),
            descriptor.media_type,
            descriptor.size,
            f"{base}/v2/{repository}/blobs/{descriptor.digest}",
            from_repository=from_repository,
        )


def _request(scope: Scope | None) -> tuple[str, str, str, str, str] | None:
    """The event's ``request``: id, client address, host, method, user agent.

    Worked out once per request (a request can make several events); the id is the one
    the access log gives the request, so an event and its request's log lines match.
    """
    if scope is None:
        return None
    known: tuple[str, str, str, str, str] | None = scope.get(_REQUEST)
    if known is not None:
        return known
    host, agent = _host_and_agent(scope)
    identity = request_id.get() or events.new_id()
    request = (identity, _addr(scope), host, scope["method"], agent)
    scope[_REQUEST] = request
    return request


def _host_and_agent(scope: Scope) -> tuple[str, str]:
    """The request's ``Host`` and ``User-Agent`` headers (empty when absent)."""
    host = agent = ""
    for key, value in scope["headers"]:
        if key == b"host":
            host = value.decode("latin-1")
        elif key == b"user-agent":
            agent = value.decode("latin-1")
    return host, agent


def _addr(scope: Scope) -> str:
    """The client's address as ``host:port``, as the event's ``request.addr``."""
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else ""


# --- the HTTP side ------------------------------------------------------------------------


class NotificationMiddleware:
    """Makes the request known to the notifier; queues a write's events before it answers."""

    def __init__(self, app: ASGIApp, journal: Journal) -> None:
        self.app = app
        self.journal = journal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _SCOPE.set(scope)
        try:
            if scope["method"] not in _WRITES:
                await self.app(scope, receive, send)
                return

            async def send_after_queuing(message: Message) -> None:
                if message["type"] == "http.response.start":
                    await self._queue(scope)
                await send(message)

            try:
                await self.app(scope, receive, send_after_queuing)
            finally:
                await self._queue(scope)  # events of a request that ended without answering
        finally:
            _SCOPE.reset(token)

    async def _queue(self, scope: Scope) -> None:
        pending = scope.pop(_PENDING, None)
        if not pending:
            return
        waiter = self.journal.add(pending, durable=True)
        if waiter is not None:
            try:
                await waiter
            except Exception:
                logger.exception(
                    "notifications: events of %s %s were not queued", scope["method"], scope["path"]
                )


class ActorRecorder:
    """Decorates the authorizer: notes the admitted user for the request's events."""

    def __init__(self, inner: Authorizer) -> None:
        self.inner = inner

    async def authorize(self, request: AuthRequest, access: list[Access]) -> Principal:
        principal = await self.inner.authorize(request, access)
        scope = _SCOPE.get()
        if scope is not None and principal.username:
            scope[_ACTOR] = principal.username
        return principal

    def routes(self) -> list[object]:
        return self.inner.routes()


# --- the storage side ---------------------------------------------------------------------


class NotifyingRegistry:
    """``protocols.Registry`` whose repositories report their pushes, pulls and deletes."""

    def __init__(self, inner: Registry, notifier: Notifier) -> None:
        self.inner = inner
        self.notifier = notifier

    def repository(self, name: str) -> Repository:
        return NotifyingRepository(self.inner.repository(name), self.notifier)

    async def catalog(self, last: str | None = None, n: int | None = None) -> Page:
        return await self.inner.catalog(last, n)

    async def upload_sessions(self, repositories: Sequence[str]) -> builtins.list[UploadStatus]:
        return await self.inner.upload_sessions(repositories)

    async def last_collection(self) -> CollectionRun | None:
        return await self.inner.last_collection()

    async def last_scrub(self) -> ScrubRun | None:
        return await self.inner.last_scrub()


class NotifyingRepository:
    """A repository whose stores report to the notifier, each wrapped when first asked
    for (a request uses one or two of them, and one is made per request)."""

    def __init__(self, inner: Repository, notifier: Notifier) -> None:
        self.inner = inner
        self.notifier = notifier
        self._blobs: NotifyingBlobs | None = None
        self._uploads: NotifyingUploads | None = None
        self._manifests: NotifyingManifests | None = None
        self._tags: NotifyingTags | None = None

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def blobs(self) -> Blobs:
        if self._blobs is None:
            self._blobs = NotifyingBlobs(self.inner.name, self.inner.blobs, self.notifier)
        return self._blobs

    @property
    def uploads(self) -> Uploads:
        if self._uploads is None:
            self._uploads = NotifyingUploads(self.inner.name, self.inner.uploads, self.notifier)
        return self._uploads

    @property
    def manifests(self) -> Manifests:
        if self._manifests is None:
            inner = self.inner
            self._manifests = NotifyingManifests(
                inner.name, inner.manifests, inner.tags, self.notifier
            )
        return self._manifests

    @property
    def tags(self) -> Tags:
        if self._tags is None:
            self._tags = NotifyingTags(self.inner.name, self.inner.tags, self.notifier)
        return self._tags

    @property
    def referrers(self) -> Referrers:
        return self.inner.referrers

    async def exists(self) -> bool:
        return await self.inner.exists()


class NotifyingBlobs:
    def __init__(self, repository: str, inner: Blobs, notifier: Notifier) -> None:
        self.repository = repository
        self.inner = inner
        self.notifier = notifier

    async def stat(self, digest: Digest) -> Descriptor:
        return await self.inner.stat(digest)

    async def open(
        self,
        digest: Digest,
        offset: int = 0,
        length: int | None = None,
        *,
        allow_redirect: bool = False,
        method: str = "GET",
    ) -> BlobContent:
        content = await self.inner.open(
            digest, offset, length, allow_redirect=allow_redirect, method=method
        )
        if method == "GET" and self.notifier.pulls:
            waiter = self.notifier.pulled(self.repository, content.descriptor, None)
            if waiter is not None:
                await waiter
        return content

    async def put(self, data: bytes, media_type: str = "application/octet-stream") -> Descriptor:
        descriptor = await self.inner.put(data, media_type)
        await self.notifier.emit("push", self.notifier.blob_target(self.repository, descriptor))
        return descriptor

    async def mount(self, digest: Digest, source: str) -> Descriptor:
        descriptor = await self.inner.mount(digest, source)
        target = self.notifier.blob_target(self.repository, descriptor, from_repository=source)
        await self.notifier.emit("mount", target)
        return descriptor

    async def delete(self, digest: Digest) -> None:
        await self.inner.delete(digest)
        await self.notifier.emit("delete", Target(self.repository, str(digest)))


class NotifyingUploads:
    def __init__(self, repository: str, inner: Uploads, notifier: Notifier) -> None:
        self.repository = repository
        self.inner = inner
        self.notifier = notifier

    async def create(self) -> UploadStatus:
        return await self.inner.create()

    async def status(self, upload_id: str) -> UploadStatus:
        return await self.inner.status(upload_id)

    async def append(
        self, upload_id: str, offset: int, chunks: AsyncIterable[bytes]
    ) -> UploadStatus:
        return await self.inner.append(upload_id, offset, chunks)

    async def commit(
        self,
        upload_id: str,
        digest: Digest,
        size: int | None = None,
        final_chunks: AsyncIterable[bytes] | None = None,
    ) -> Descriptor:
        descriptor = await self.inner.commit(upload_id, digest, size, final_chunks)
        await self.notifier.emit("push", self.notifier.blob_target(self.repository, descriptor))
        return descriptor

    async def upload(
        self, digest: Digest, chunks: AsyncIterable[bytes] | None = None
    ) -> Descriptor:
        descriptor = await self.inner.upload(digest, chunks)
        await self.notifier.emit("push", self.notifier.blob_target(self.repository, descriptor))
        return descriptor

    async def cancel(self, upload_id: str) -> None:
        await self.inner.cancel(upload_id)

    async def purge(self, older_than: timedelta) -> int:
        return await self.inner.purge(older_than)


class NotifyingManifests:
    """Manifests whose reads by digest or tag make pull events."""

    def __init__(self, repository: str, inner: Manifests, tags: Tags, notifier: Notifier) -> None:
        self.repository = repository
        self.inner = inner
        self.tags = tags
        self.notifier = notifier

    async def get(self, reference: Digest | str) -> Manifest:
        manifest = await self.inner.get(reference)
        if self.notifier.pulls:
            if isinstance(reference, str):
                tag: str | None = reference
            else:
                scope = _SCOPE.get()
                resolved = scope.get(_RESOLVED) if scope is not None else None
                tag = resolved[0] if resolved is not None and resolved[1] == reference else None
            waiter = self.notifier.pulled(self.repository, manifest, tag)
            if waiter is not None:
                await waiter
        return manifest

    async def stat(self, reference: Digest | str) -> Descriptor:
        return await self.inner.stat(reference)

    async def put(
        self, body: bytes, media_type: str | None, expected: Digest | None = None
    ) -> Manifest:
        manifest = await self.inner.put(body, media_type, expected)
        await self.notifier.emit("push", self.notifier.manifest_target(self.repository, manifest))
        return manifest

    async def delete(self, digest: Digest) -> None:
        await self.inner.delete(digest)
        await self.notifier.emit("delete", Target(self.repository, str(digest)))


class NotifyingTags:
    def __init__(self, repository: str, inner: Tags, notifier: Notifier) -> None:
        self.repository = repository
        self.inner = inner
        self.notifier = notifier

    async def resolve(self, tag: str) -> Digest:
        digest = await self.inner.resolve(tag)
        scope = _SCOPE.get()
        if scope is not None:
            scope[_RESOLVED] = (tag, digest)
        return digest

    async def tag(self, tag: str, digest: Digest) -> None:
        """Names the tag in the push event of the manifest this request stored."""
        await self.inner.tag(tag, digest)
        scope = _SCOPE.get()
        pending: list[Event] = scope.get(_PENDING, []) if scope is not None else []
        for event in pending:
            target = event.target
            if event.action == "push" and target.digest == str(digest):
                if target.tag is None:
                    target.tag = tag
                else:
                    pending.append(
                        replace(event, id=events.new_id(), target=replace(target, tag=tag))
                    )
                return

    async def untag(self, tag: str) -> None:
        await self.inner.untag(tag)
        await self.notifier.emit("delete", Target(self.repository, tag=tag))

    async def list(self, last: str | None = None, n: int | None = None) -> Page:
        return await self.inner.list(last, n)

    async def describe(self, tags: Sequence[str]) -> builtins.list[TagRecord]:
        return await self.inner.describe(tags)

    async def lookup(self, digest: Digest) -> builtins.list[str]:
        return await self.inner.lookup(digest)


if TYPE_CHECKING:

    def _conforms(registry: NotifyingRegistry, authorizer: ActorRecorder) -> None:
        _registry: Registry = registry
        _authorizer: Authorizer = authorizer
