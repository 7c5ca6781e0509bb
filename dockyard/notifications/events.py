"""Notification events in the reference registry's envelope, and as CloudEvents.

An event is the reference's JSON object (``id, timestamp, action, target, request,
actor, source``), so the reference's webhook consumers parse dockyard's unchanged. An
envelope carries several: ``{"events": [...]}`` as
``application/vnd.docker.distribution.events.v2+json``.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import time
import uuid
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


class _EventIds:
    """Version 4 UUIDs as text, unique per event: a random prefix and a counter.

    An event is made on every pull, so an id must cost next to nothing: the first 80
    bits (the version and variant digits among them) are drawn at random once per
    process, the last 48 count up from a random start. Ids stay distinct within a
    process (until 2**48 events) and, by the 74 random bits of the prefix, across
    processes and instances; a receiver that deduplicates by ``id`` sees each event's
    own. A forked child draws a prefix of its own.
    """

    _MASK: Final = (1 << 48) - 1

    def __init__(self) -> None:
        self._draw()
        os.register_at_fork(after_in_child=self._draw)

    def _draw(self) -> None:
        self._prefix = str(uuid.uuid4())[:24]
        self._counter = itertools.count(int.from_bytes(os.urandom(6), "big"))

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter) & self._MASK:012x}"


#: A new event id, a version 4 UUID as text (see ``_EventIds``).
new_id: Final = _EventIds()


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


fragments: Final = _Fragments()


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


def actor_json(name: str | None) -> str:
    """An event's ``actor``: ``{"name": ...}``, or ``{}`` without an authenticated user."""
    return "{}" if name is None else f'{{"name":{_quote(name)}}}'


def shared_parts(action: str, target: str, tail: str, actor: str, source: bytes) -> tuple[str, str]:
    """What events of one action, target, request tail (``_Fragments.tail``), actor and
    source share, as the text around their own id, time, request id and address (see
    ``encode_with``): events of repeated pulls differ in nothing else."""
    middle = f'"action":{_quote(action)},"target":{target},"request":{{"id":'
    return middle, f'{tail},"actor":{actor},"source":{source.decode()}}}'


def encode_with(
    parts: tuple[str, str], when: float, request_id: str, addr: str, event_id: str | None = None
) -> bytes:
    """An event's JSON from its ``shared_parts``, its time and its request's id and address;
    its own id is drawn here unless given."""
    return (
        f'{{"id":"{event_id or new_id()}","timestamp":"{timestamp(when)}",{parts[0]}'
        f'{_quote(request_id)},"addr":{_quote(addr)},{parts[1]}'
    ).encode()


def encode(event: Event, source: bytes) -> bytes:
    """The event as the reference's JSON object; ``source`` is ``Source.json``.

    Written out field by field (every string escaped by the ``json`` module's own C
    escaper) rather than through a dict, from fragments made once (see ``_Fragments``).
    """
    request = event.request
    actor = actor_json(event.actor)
    target = fragments.target(event.target)
    if request is None:
        head = (
            f'{{"id":"{event.id or new_id()}","timestamp":"{timestamp(event.time)}",'
            f'"action":{_quote(event.action)},"target":{target},'
            f'"request":{{}},"actor":{actor},"source":'
        )
        return head.encode() + source + b"}"
    parts = shared_parts(
        event.action, target, fragments.tail(request[2], request[3], request[4]), actor, source
    )
    return encode_with(parts, event.time, request[0], request[1], event.id)


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
