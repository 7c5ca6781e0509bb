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
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from dockyard.descriptor import Descriptor

ENVELOPE_MEDIA_TYPE: Final = "application/vnd.docker.distribution.events.v2+json"
CLOUDEVENTS_BATCH_MEDIA_TYPE: Final = "application/cloudevents-batch+json"
#: The actions of the reference, plus ``mount`` (a cross-repository blob mount).
ACTIONS: Final = ("push", "pull", "mount", "delete")
#: A blob's media type in events, where the reference has none better.
LAYER_MEDIA_TYPE: Final = "application/octet-stream"

Event = dict[str, Any]


class Source:
    """This instance, as events name it: ``addr`` (host:port) and ``instanceID``."""

    def __init__(self, port: int | None) -> None:
        host = socket.gethostname()
        self.addr = f"{host}:{port}" if port else host
        self.instance_id = str(uuid.uuid4())

    def to_json(self) -> dict[str, str]:
        return {"addr": self.addr, "instanceID": self.instance_id}


def timestamp() -> str:
    """Now, in RFC 3339 in UTC with microseconds (``2026-12-03T09:45:51.123456Z``)."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def target(
    descriptor: Descriptor,
    repository: str,
    url: str,
    *,
    tag: str | None = None,
    from_repository: str | None = None,
    references: Sequence[Descriptor] | None = None,
) -> dict[str, Any]:
    """An event's ``target``: what the action was done to."""
    out: dict[str, Any] = {
        "mediaType": descriptor.media_type,
        "digest": str(descriptor.digest),
        "size": descriptor.size,
        "length": descriptor.size,
        "repository": repository,
        "url": url,
    }
    if from_repository:
        out["fromRepository"] = from_repository
    if tag:
        out["tag"] = tag
    if references is not None:
        out["references"] = [ref.to_json() for ref in references]
    return out


def event(
    action: str,
    target: dict[str, Any],
    request: dict[str, str],
    actor: str | None,
    source: Source,
) -> Event:
    """One event in the reference's shape."""
    return {
        "id": str(uuid.uuid4()),
        "timestamp": timestamp(),
        "action": action,
        "target": target,
        "request": request,
        "actor": {"name": actor} if actor else {},
        "source": source.to_json(),
    }


def envelope(events: Sequence[Event]) -> bytes:
    """The reference's envelope of ``events``."""
    return json.dumps({"events": list(events)}, separators=(",", ":")).encode()


def cloudevents(events: Sequence[Event]) -> bytes:
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
