"""Webhook notifications from a real ``dockyard serve`` to a real receiver process.

The outage test runs ``DOCKYARD_OPS_PUSHES`` image pushes (default 150 in CI) and the
memory test ``DOCKYARD_OPS_EVENTS`` events (default 3000); the issue's full figures are
``DOCKYARD_OPS_PUSHES=1000 DOCKYARD_OPS_EVENTS=10000 pytest tests/ops``. The assertions
are the same at every scale.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import bcrypt
import httpx
from ops_helpers import (
    Image,
    Sink,
    StartDockyard,
    digest_of,
    endpoint,
    push_blob,
    push_image,
    rss_bytes,
    wait_for,
)
from redis_server import RedisServer

PUSHES = int(os.environ.get("DOCKYARD_OPS_PUSHES", "150"))
EVENTS = int(os.environ.get("DOCKYARD_OPS_EVENTS", "3000"))
REPOSITORIES = 5


def test_events_pushed_while_the_endpoint_is_down_all_arrive_after_a_crash(
    start_dockyard: StartDockyard, sink: Sink, queue: dict[str, Any]
) -> None:
    config = {**endpoint(sink), **queue}
    # With Redis, two instances share the queue (and the storage): pushes alternate.
    instances = [start_dockyard(config) for _ in range(2 if queue else 1)]
    expected: dict[str, list[str]] = defaultdict(list)  # repository → manifest digests in order
    clients = [httpx.Client(base_url=instance.url) for instance in instances]
    for n in range(PUSHES):
        repository = f"outage/r{n % REPOSITORIES}"
        image = Image.random()
        push_image(clients[n % len(clients)], repository, f"t{n}", image)
        expected[repository].append(image.digest)
    for client in clients:
        client.close()
    for instance in instances:
        instance.kill()

    restarted = [
        start_dockyard(config, port=instance.process.port, name=f"restarted-{n}")
        for n, instance in enumerate(instances)
    ]
    sink.start()
    wanted = PUSHES * 3  # each push: a layer, a config and the tagged manifest

    def all_arrived() -> bool:
        return len({event["id"] for event in sink.events()}) >= wanted

    wait_for(all_arrived, 60, f"{wanted} distinct events")
    for instance in restarted:
        instance.process.stop()

    received = sink.events()
    assert len({e["id"] for e in received}) == wanted
    first_seen: dict[str, list[str]] = defaultdict(list)
    seen_ids: set[str] = set()
    for event in received:
        target = event["target"]
        if (
            event["id"] in seen_ids
            or target["mediaType"] != "application/vnd.oci.image.manifest.v1+json"
        ):
            continue
        seen_ids.add(event["id"])
        first_seen[target["repository"]].append(target["digest"])
    assert first_seen == expected


def test_memory_stays_bounded_while_the_endpoint_is_down(
    start_dockyard: StartDockyard, sink: Sink, queue: dict[str, Any]
) -> None:
    registry = start_dockyard({**endpoint(sink), **queue})
    with httpx.Client(base_url=registry.url) as client:
        push_image(client, "bounded/app", "latest", Image.random())

        def pull(count: int) -> None:
            for _ in range(count):
                assert client.get("/v2/bounded/app/manifests/latest").status_code == 200

        pull(EVENTS // 10)
        settled = rss_bytes(registry.pid)
        pull(EVENTS)
        grown = rss_bytes(registry.pid) - settled

    def all_queued() -> bool:
        variables = httpx.get(f"{registry.debug_url}/debug/vars").json()
        return variables["registry"]["notifications"]["sink"]["pending"] >= EVENTS

    wait_for(all_queued, 60, "every event queued")
    assert grown < 16 << 20, f"RSS grew by {grown >> 20} MiB for {EVENTS} queued events"


def test_events_that_keep_failing_are_dead_lettered_listed_and_replayed(
    start_dockyard: StartDockyard, sink: Sink, tmp_path: Path, queue: dict[str, Any]
) -> None:
    config = {**endpoint(sink, maxretries=2), **queue}
    registry = start_dockyard(config)
    sink.start(status=500)
    with httpx.Client(base_url=registry.url) as client:
        layer = os.urandom(100)
        push_blob(client, "dead/app", layer)
    config_path = tmp_path / f"{registry.process.name}.yml"

    def dead_letters() -> list[dict]:
        listing = _events_cli("list", str(config_path), "--json")
        return listing["sink"]

    letters = wait_for(dead_letters, 60, "the event in the dead-letter list")
    assert [r["event"]["target"]["digest"] for r in letters] == [digest_of(layer)]
    assert "500" in letters[0]["failed"]
    failed_ids = {e["id"] for e in sink.events()}
    assert failed_ids == {letters[0]["event"]["id"]}

    sink.stop()
    sink.output.unlink()
    sink.start()
    assert _events_cli("replay", str(config_path), "--json") == {"replayed": {"sink": 1}}
    wait_for(sink.events, 60, "the replayed event")
    assert [e["id"] for e in sink.events()] == [letters[0]["event"]["id"]]
    assert _events_cli("list", str(config_path), "--json") == {"sink": []}


def _events_cli(*args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "dockyard.cli", "events", *args],
        capture_output=True,
        check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")},
    )
    return json.loads(result.stdout)


ENVELOPE_FIELDS = {"id", "timestamp", "action", "target", "request", "actor", "source"}
TARGET_FIELDS = {
    "mediaType",
    "digest",
    "size",
    "length",
    "repository",
    "fromRepository",
    "url",
    "tag",
    "references",
}
REQUEST_FIELDS = {"id", "addr", "host", "method", "useragent"}


def test_envelopes_carry_the_reference_fields_for_push_pull_mount_and_delete(
    start_dockyard: StartDockyard, sink: Sink, tmp_path: Path
) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_bytes(b"alice:" + bcrypt.hashpw(b"secret", bcrypt.gensalt(rounds=4)) + b"\n")
    registry = start_dockyard(
        {**endpoint(sink), "auth": {"htpasswd": {"realm": "test", "path": str(htpasswd)}}}
    )
    sink.start()
    image = Image.random()
    with httpx.Client(base_url=registry.url, auth=("alice", "secret")) as client:
        push_image(client, "envelope/app", "v1", image)
        pulled = client.get("/v2/envelope/app/manifests/v1", headers={"X-Request-Id": "pull-1"})
        assert pulled.status_code == 200
        mount = f"/v2/envelope/copy/blobs/uploads/?mount={digest_of(image.layer)}&from=envelope/app"
        assert client.post(mount).status_code == 201
        assert client.delete(f"/v2/envelope/app/manifests/{image.digest}").status_code == 202

    wait_for(lambda: len(sink.events()) >= 6, 60, "six events")
    for record in sink.records():
        assert (
            record["headers"]["Content-Type"]
            == "application/vnd.docker.distribution.events.v2+json"
        )
        assert set(record["body"]) == {"events"}
    events = sink.events()
    assert [e["action"] for e in events] == ["push", "push", "push", "pull", "mount", "delete"]
    for event in events:
        assert set(event) == ENVELOPE_FIELDS
        assert set(event["target"]) <= TARGET_FIELDS
        assert set(event["request"]) == REQUEST_FIELDS
        assert event["actor"] == {"name": "alice"}
        assert set(event["source"]) == {"addr", "instanceID"}
        datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
    manifest_push = events[2]["target"]
    assert manifest_push["tag"] == "v1"
    assert manifest_push["digest"] == image.digest
    assert manifest_push["size"] == manifest_push["length"] == len(image.manifest)
    assert manifest_push["url"] == f"{registry.url}/v2/envelope/app/manifests/{image.digest}"
    assert {r["digest"] for r in manifest_push["references"]} == {
        digest_of(image.layer),
        digest_of(image.config),
    }
    assert events[4]["target"]["fromRepository"] == "envelope/app"
    assert events[5]["target"] == {"digest": image.digest, "repository": "envelope/app"}
    assert events[0]["request"]["method"] == "PUT"
    assert events[3]["request"]["useragent"].startswith("python-httpx")
    assert events[3]["request"]["id"] == "pull-1", "the id the access log gives the request"


def test_signed_endpoints_get_an_hmac_of_each_body_and_cloudevents_when_asked(
    start_dockyard: StartDockyard, sink: Sink
) -> None:
    registry = start_dockyard(endpoint(sink, format="cloudevents", signing={"secret": "s3cret"}))
    sink.start()
    layer = os.urandom(10)
    with httpx.Client(base_url=registry.url) as client:
        push_blob(client, "signed/app", layer)
    wait_for(sink.records, 60, "one request")
    record = sink.records()[0]
    body = record["raw"].encode()
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert record["headers"]["X-Dockyard-Signature-256"] == expected
    assert record["headers"]["Content-Type"] == "application/cloudevents-batch+json"
    [cloud_event] = record["body"]
    assert cloud_event["specversion"] == "1.0"
    assert cloud_event["type"] == "io.dockyard.registry.push"
    assert cloud_event["data"]["target"]["digest"] == digest_of(layer)


def test_an_endpoint_ignoring_pulls_gets_every_push_and_no_pull(
    start_dockyard: StartDockyard, sink: Sink
) -> None:
    registry = start_dockyard(endpoint(sink, ignore={"actions": ["pull"]}))
    sink.start()
    image, later = Image.random(), os.urandom(20)
    with httpx.Client(base_url=registry.url) as client:
        push_image(client, "quiet/app", "v1", image)
        assert client.get("/v2/quiet/app/manifests/v1").status_code == 200
        assert client.get(f"/v2/quiet/app/blobs/{digest_of(image.layer)}").status_code == 200
        push_blob(client, "quiet/app", later)

    arrived = wait_for(lambda: len(sink.events()) >= 4 and sink.events(), 60, "four pushes")
    assert [e["action"] for e in arrived] == ["push"] * 4
    assert arrived[-1]["target"]["digest"] == digest_of(later)


def _push_until(
    urls: list[str], prefix: str, placed: Callable[[], bool], what: str, *, rounds: int = 5
) -> dict[str, list[str]]:
    """Push images in rounds until ``placed()`` (``what``) holds and ``rounds`` rounds ran.

    Each round pushes one image to each of three repositories at once, each over a fresh
    connection to ``urls`` in turn: concurrent connections are what make a kernel hand
    some to every worker of a listener, and a repository's pushes stay in one order
    (round after round). Fails loudly if ``placed()`` is still false after 80 rounds.
    Returns each repository's manifest digests in push order.
    """
    expected: dict[str, list[str]] = defaultdict(list)
    repositories = [f"{prefix}/r{n}" for n in range(3)]

    def push(round_: int, slot: int) -> str:
        image = Image.random()
        with httpx.Client(base_url=urls[(round_ + slot) % len(urls)]) as client:
            push_image(client, repositories[slot], f"t{round_}", image)
        return image.digest

    with ThreadPoolExecutor(len(repositories)) as pool:
        for round_ in range(80):
            digests = pool.map(push, [round_] * len(repositories), range(len(repositories)))
            for repository, digest in zip(repositories, digests, strict=True):
                expected[repository].append(digest)
            if round_ + 1 >= rounds and placed():
                return expected
    raise AssertionError(f"after {80 * len(repositories)} pushes, still not: {what}")


def _manifests_by_repository(events: list[dict[str, Any]]) -> dict[str, list[str]]:
    manifests: dict[str, list[str]] = defaultdict(list)
    for event in events:
        if event["target"]["mediaType"] == "application/vnd.oci.image.manifest.v1+json":
            manifests[event["target"]["repository"]].append(event["target"]["digest"])
    return manifests


def test_two_workers_deliver_every_event_once_in_order_per_repository(
    start_dockyard: StartDockyard, sink: Sink, tmp_path: Path
) -> None:
    registry = start_dockyard(endpoint(sink), workers=2)
    sink.start()
    segments = tmp_path / "root" / "notifications" / "sink" / "segments"

    def both_workers_queued() -> bool:
        # A segment is named <time>-<pid>-<random>.<number>.jsonl by the process writing it.
        writers = {path.name.split("-")[1] for path in segments.glob("*.jsonl")}
        return len(writers) == 2

    expected = _push_until(
        [registry.url], "workers", both_workers_queued, "both workers queued events"
    )

    wanted = 3 * sum(len(digests) for digests in expected.values())
    wait_for(lambda: len(sink.events()) >= wanted, 60, f"{wanted} events")
    events = sink.events()
    assert len(events) == len({e["id"] for e in events}) == wanted
    assert _manifests_by_repository(events) == expected


def test_two_instances_sharing_redis_post_every_event_once_in_order_per_repository(
    start_dockyard: StartDockyard, sink: Sink, redis_server: RedisServer
) -> None:
    config = {**endpoint(sink), "redis": {"addr": redis_server.addr}}
    instances = [start_dockyard(config) for _ in range(2)]
    sink.start()
    expected = _push_until(
        [instance.url for instance in instances], "shared", lambda: True, "pushed"
    )

    wanted = 3 * sum(len(digests) for digests in expected.values())
    wait_for(lambda: len(sink.events()) >= wanted, 60, f"{wanted} events")
    events = sink.events()
    assert len(events) == len({e["id"] for e in events}) == wanted
    assert len({e["source"]["instanceID"] for e in events}) == 2, "both instances queued"
    assert _manifests_by_repository(events) == expected
