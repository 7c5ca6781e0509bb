"""Notification events in the reference registry's envelope, and as CloudEvents.

An event is the reference's JSON object (``id, timestamp, action, target, request,
actor, source``), so the reference's webhook consumers parse dockyard's unchanged. An
envelope carries several: ``{"events": [...]}`` as
``application/vnd.docker.distribution.events.v2+json``.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from typing import Any, Final

from dockyard.descriptor import Descriptor

ENVELOPE_MEDIA_TYPE: Final = "application/vnd.docker.distribution.events.v2+json"
CLOUDEVENTS_BATCH_MEDIA_TYPE: Final = "application/cloudevents-batch+json"
#: The actions of the reference, plus ``mount`` (a cross-repository blob mount).
ACTIONS: Final = ("push", "pull", "mount", "delete")


class Source:
    """This instance, as events name it: ``addr`` (host:port) and ``instanceID``."""

    def __init__(self, port: int | None) -> None:
        host = socket.gethostname()
        self.addr = f"{host}:{port}" if port else host
        self.instance_id = new_id()

    @property
    def json(self) -> bytes:
        """As an event's ``source``, encoded."""
        return json.dumps(
            {"addr": self.addr, "instanceID": self.instance_id}, separators=(",", ":")
        ).encode()


class _RandomIds:
    """Random (version 4) UUIDs as text, made 256 at a time from one draw of random bytes.

    ``uuid.uuid4()`` makes a system call and a ``UUID`` object per id; an event is made
    on every pull, so ids are cut from a pool of hex digits instead, with the version and
    variant digits written in, a batch at a time. The pool is dropped in a forked child.
    """

    _BATCH: Final = 256
    #: The RFC 4122 variant: the top two bits of the 17th hex digit are ``10``.
    _VARIANT: Final = {f"{n:x}": "89ab"[n & 3] for n in range(16)}

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._pid = 0

    def __call__(self) -> str:
        if not self._ids or self._pid != os.getpid():
            self._ids = self._batch()
            self._pid = os.getpid()
        return self._ids.pop()

    def _batch(self) -> list[str]:
        pool = os.urandom(16 * self._BATCH).hex()
        variant = self._VARIANT
        return [
            f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant[h[16]]}{h[17:20]}-{h[20:]}"
            for h in (pool[n : n + 32] for n in range(0, len(pool), 32))
        ]


#: A new random UUID as text (``str(uuid.uuid4())``, cheaper).
new_id: Final = _RandomIds()


@dataclass(slots=True)
class Target:
    """What an action was done to (the event's ``target``); absent fields stay out."""

    repository: str
    digest: str | None = None
    media_type: str | None = None
    size: int | None = None
    url: str | None = None
    tag: str | None = None
    from_repository: str | None = None
    references: Sequence[Descriptor] | None = None


@dataclass(slots=True)
class Event:
    """One event, kept as plain fields until it is encoded (it is made on every pull).

    Its ``id`` is drawn when it is encoded, off the request's path, unless given.
    """

    action: str
    target: Target
    #: ``(id, addr, host, method, useragent)`` of the request, when there was one.
    request: tuple[str, str, str, str, str] | None
    actor: str | None
    time: float = field(default_factory=time.time)
    id: str | None = None


_quote = encode_basestring_ascii


class _Clock:
    """RFC 3339 timestamps in UTC with microseconds, the second's text made once."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, when: float) -> str:
        second = int(when)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((when - second) * 1_000_000):06d}Z"


timestamp: Final = _Clock()


#: Encoded targets and request tails at most, before they are forgotten all at once.
_FRAGMENTS_KEPT: Final = 4096


class _Fragments:
    """Encoded ``target`` objects and ``request`` tails, kept by what they are made of.

    Pulls repeat: the same manifest or blob from the same clients, so each event's target
    (and its request's host, method and user agent) is written out once, not per event.
    A target is known by its fields; its ``references`` follow from its digest (content
    addressed), so whether it has them is enough.
    """

    def __init__(self) -> None:
        self.targets: dict[tuple[object, ...], str] = {}
        self.tails: dict[tuple[str, str, str], str] = {}

    def target(self, t: Target) -> str:
        key = (
            t.repository,
            t.digest,
            t.media_type,
            t.size,
            t.url,
            t.tag,
            t.from_repository,
            t.references is not None,
        )
        known = self.targets.get(key)
        if known is None:
            if len(self.targets) >= _FRAGMENTS_KEPT:
                self.targets.clear()
            known = self.targets[key] = _target(t)
        return known

    def tail(self, host: str, method: str, agent: str) -> str:
        key = (host, method, agent)
        known = self.tails.get(key)
        if known is None:
            if len(self.tails) >= _FRAGMENTS_KEPT:
                self.tails.clear()
            known = self.tails[key] = (
                f'"host":{_quote(host)},"method":{_quote(method)},"useragent":{_quote(agent)}}}'
            )
        return known


_fragments: Final = _Fragments()


def _target(t: Target) -> str:
    """The event's ``target`` object; absent fields stay out."""
    fields = [f'"repository":{_quote(t.repository)}']
    if t.media_type is not None:
        fields.append(f'"mediaType":{_quote(t.media_type)}')
    if t.digest is not None:
        fields.append(f'"digest":{_quote(t.digest)}')
    if t.size is not None:
        fields.append(f'"size":{t.size},"length":{t.size}')
    if t.url is not None:
        fields.append(f'"url":{_quote(t.url)}')
    if t.tag is not None:
        fields.append(f'"tag":{_quote(t.tag)}')
    if t.from_repository is not None:
        fields.append(f'"fromRepository":{_quote(t.from_repository)}')
    if t.references is not None:
        references = json.dumps([r.to_json() for r in t.references], separators=(",", ":"))
        fields.append(f'"references":{references}')
    return "{" + ",".join(fields) + "}"


def encode(event: Event, source: bytes) -> bytes:
    """The event as the reference's JSON object; ``source`` is ``Source.json``.

    Written out field by field (every string escaped by the ``json`` module's own C
    escaper) rather than through a dict, from fragments made once (see ``_Fragments``):
    this runs once for every pull.
    """
    request = event.request
    request_json = (
        f'{{"id":{_quote(request[0])},"addr":{_quote(request[1])},'
        + _fragments.tail(request[2], request[3], request[4])
        if request is not None
        else "{}"
    )
    actor = "{}" if event.actor is None else f'{{"name":{_quote(event.actor)}}}'
    head = (
        f'{{"id":"{event.id or new_id()}","timestamp":"{timestamp(event.time)}",'
        f'"action":{_quote(event.action)},"target":{_fragments.target(event.target)},'
        f'"request":{request_json},"actor":{actor},"source":'
    )
    return head.encode() + source + b"}"


def envelope(events: Sequence[bytes]) -> bytes:
    """The reference's envelope of ``events``, each already encoded as JSON."""
    return b'{"events":[' + b",".join(events) + b"]}"


def cloudevents(events: Sequence[dict[str, Any]]) -> bytes:
    """``events`` as a CloudEvents 1.0 JSON batch, the reference's event as ``data``."""
    return json.dumps(
        [
            {
                "specversion": "1.0",
                "id": e["id"],
                "source": f"dockyard://{e['source'].get('addr', os.uname().nodename)}",
                "type": f"io.dockyard.registry.{e['action']}",
                "subject": e["target"].get("repository", ""),
                "time": e["timestamp"],
                "datacontenttype": "application/json",
                "data": e,
            }
            for e in events
        ],
        separators=(",", ":"),
    ).encode()
