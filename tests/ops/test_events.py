"""Encoding of single events: what is written once and shared must not mix events up."""

from __future__ import annotations

import json
import uuid

from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.notifications import events
from dockyard.notifications.events import Event, Source, Target

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DIGEST = "sha256:" + "a" * 64


def _encoded(event: Event, source: Source) -> dict:
    return json.loads(events.encode(event, source.json))


def test_pulls_of_one_target_keep_their_own_ids_requests_and_actors() -> None:
    source = Source(5000)
    target = Target("team/app", DIGEST, MANIFEST, 10, "http://r/v2/team/app/manifests/x", "v1")
    first = Event("pull", target, ("r1", "10.0.0.1:1", "r", "GET", "podman/5"), "alice")
    second = Event("pull", target, ("r2", "10.0.0.2:2", "r", "GET", "podman/5"), None)
    one, two = _encoded(first, source), _encoded(second, source)
    assert (
        one["target"]
        == two["target"]
        == {
            "repository": "team/app",
            "mediaType": MANIFEST,
            "digest": DIGEST,
            "size": 10,
            "length": 10,
            "url": "http://r/v2/team/app/manifests/x",
            "tag": "v1",
        }
    )
    assert one["request"] == {
        "id": "r1",
        "addr": "10.0.0.1:1",
        "host": "r",
        "method": "GET",
        "useragent": "podman/5",
    }
    assert (two["request"]["id"], two["request"]["addr"]) == ("r2", "10.0.0.2:2")
    assert (one["actor"], two["actor"]) == ({"name": "alice"}, {})
    assert one["id"] != two["id"]


def test_targets_that_differ_in_any_field_are_encoded_apart() -> None:
    source = Source(None)
    base = Target("team/app", DIGEST, MANIFEST, 10, "http://r/x", "v1")
    variants = [
        base,
        Target("team/app", DIGEST, MANIFEST, 10, "http://r/x", "v2"),
        Target("team/app", DIGEST, MANIFEST, 10, "http://other/x", "v1"),
        Target("team/other", DIGEST, MANIFEST, 10, "http://r/x", "v1"),
        Target("team/app", DIGEST, MANIFEST, 10, "http://r/x", "v1", from_repository="a/b"),
        Target(
            "team/app",
            DIGEST,
            MANIFEST,
            10,
            "http://r/x",
            "v1",
            references=[Descriptor("text/plain", Digest.parse("sha256:" + "b" * 64), 3)],
        ),
    ]
    encoded = [_encoded(Event("push", t, None, None), source)["target"] for t in variants]
    assert len({json.dumps(t, sort_keys=True) for t in encoded}) == len(variants)
    assert encoded[5]["references"][0]["digest"] == "sha256:" + "b" * 64


def test_event_ids_are_distinct_version_4_uuids() -> None:
    ids = [events.new_id() for _ in range(1000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == text
