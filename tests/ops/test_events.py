"""Encoding of single events: what is written once and shared must not mix events up."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from dockyard.config import from_dict
from dockyard.descriptor import Descriptor
from dockyard.digest import Digest
from dockyard.notifications import events
from dockyard.notifications.events import Event, Source, Target
from dockyard.notifications.notifier import Journal, Notifier
from dockyard.notifications.store import DiskStore

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


def _journal(tmp_path: Path, **endpoint: object) -> tuple[Journal, Notifier]:
    config = from_dict(
        {
            "version": 0.1,
            "storage": {"inmemory": {}},
            "http": {"addr": "127.0.0.1:5000", "secret": "s"},
            "notifications": {
                "endpoints": [{"name": "e", "url": "http://127.0.0.1:9/", **endpoint}]
            },
        }
    )
    journal = Journal(DiskStore(tmp_path), config.notifications.endpoints, Source(5000))
    return journal, Notifier(journal, include_references=False, host=None)


def _scope(addr: str, agent: str, actor: str | None = None) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "scheme": "https",
        "headers": [(b"host", b"registry.test"), (b"user-agent", agent.encode())],
        "client": (addr, 4000),
    }
    if actor is not None:
        scope["dockyard.notifications.actor"] = actor
    return scope


def test_pulls_noted_by_requests_become_events_with_each_requests_own_fields(
    tmp_path: Path,
) -> None:
    journal, _ = _journal(tmp_path)
    blob = Descriptor("application/octet-stream", Digest.parse(DIGEST), 42)
    first = ("team/app", blob, None, _scope("10.0.0.1", "podman/5", "alice"), "req-1")
    second = ("team/app", blob, None, _scope("10.0.0.2", "podman/5"), "req-2")
    made = journal._encode([(10, first), (10, second), (11, first)])
    events_ = [json.loads(raw) for _, _, raw in made["e"]]
    assert [e["request"]["id"] for e in events_] == ["req-1", "req-2", "req-1"]
    addrs = [e["request"]["addr"] for e in events_]
    assert addrs == ["10.0.0.1:4000", "10.0.0.2:4000", "10.0.0.1:4000"]
    assert [e["actor"] for e in events_] == [{"name": "alice"}, {}, {"name": "alice"}]
    assert len({e["id"] for e in events_}) == 3
    assert events_[0]["request"] == {
        "id": "req-1",
        "addr": "10.0.0.1:4000",
        "host": "registry.test",
        "method": "GET",
        "useragent": "podman/5",
    }
    assert events_[1]["target"] == {
        "repository": "team/app",
        "mediaType": "application/octet-stream",
        "digest": DIGEST,
        "size": 42,
        "length": 42,
        "url": f"https://registry.test/v2/team/app/blobs/{DIGEST}",
    }
    assert events_[0]["action"] == "pull"
    assert events_[0]["source"] == {
        "addr": journal.source.addr,
        "instanceID": journal.source.instance_id,
    }


def test_events_queued_in_the_same_nanosecond_keep_their_queue_order(tmp_path: Path) -> None:
    journal, _ = _journal(tmp_path)
    blob = Descriptor("application/octet-stream", Digest.parse(DIGEST), 42)
    pull = ("team/app", blob, None, _scope("10.0.0.1", "podman/5"), "req-1")
    push = Event("push", Target("team/app", DIGEST, MANIFEST, 10), None, None)
    made = journal._encode([(50, pull), (50, push), (49, pull)])
    assert [(sequence, action) for sequence, action, _ in made["e"]] == [
        (50, "pull"),
        (51, "push"),
        (52, "pull"),
    ]
    later = journal._encode([(52, pull)])
    assert [sequence for sequence, _, _ in later["e"]] == [53]


def test_an_endpoint_ignoring_a_media_type_gets_no_pull_of_it(tmp_path: Path) -> None:
    journal, _ = _journal(tmp_path, ignoredmediatypes=["application/octet-stream"])
    blob = Descriptor("application/octet-stream", Digest.parse(DIGEST), 42)
    pull = ("team/app", blob, None, _scope("10.0.0.1", "podman/5"), "req-1")
    assert journal._encode([(1, pull)]) == {}
