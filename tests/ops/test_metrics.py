"""Metrics, the debug listener and the probes, scraped from real ``dockyard serve``."""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bcrypt
import httpx
from ops_helpers import Dockyard, Image, StartDockyard, digest_of, push_image, scrape, wait_for
from redis_server import RedisServer


def test_metrics_count_real_pushes_and_pulls(start_dockyard: StartDockyard) -> None:
    registry = start_dockyard({"storage": {"cache": {"blobdescriptor": "inmemory"}}})
    images = [Image.random() for _ in range(3)]
    with httpx.Client(base_url=registry.url) as client:
        for n, image in enumerate(images):
            push_image(client, "team/app", f"v{n}", image)
        for n in range(3):
            pulled = client.get(f"/v2/team/app/manifests/v{n}", headers={"Accept": "*/*"})
            assert pulled.status_code == 200
        layer = client.get(f"/v2/team/app/blobs/sha256:{'0' * 64}")
        assert layer.status_code == 404
        pulled = client.get(f"/v2/team/app/blobs/{digest_of(images[0].layer)}")
        assert pulled.status_code == 200

    metrics = scrape(f"{registry.debug_url}/metrics")

    put = 'registry_http_requests_total{code="201",handler="manifest",method="PUT"}'
    get = 'registry_http_requests_total{code="200",handler="manifest",method="GET"}'
    missing = 'registry_http_requests_total{code="404",handler="blob",method="GET"}'
    assert (metrics[put], metrics[get], metrics[missing]) == (3, 3, 1)
    assert (
        metrics['registry_http_request_duration_seconds_count{handler="manifest",method="GET"}']
        == 3
    )
    assert metrics['registry_http_in_flight_requests{handler="manifest"}'] == 0
    pushed = sum(len(i.layer) + len(i.config) for i in images)
    assert metrics['dockyard_http_received_bytes_total{handler="blob_upload_chunk"}'] == pushed
    assert metrics['dockyard_http_sent_bytes_total{handler="manifest"}'] == sum(
        len(i.manifest) for i in images
    )
    assert metrics['registry_http_response_size_bytes_count{handler="manifest"}'] >= 6
    storage = 'registry_storage_action_seconds_count{{action="{}",driver="filesystem"}}'
    assert metrics[storage.format("plan:manifests.store")] == 3
    assert storage.format("Plan") not in metrics
    assert metrics["dockyard_uploads_in_flight"] == 0
    assert metrics["registry_storage_cache_requests_total"] > 0


def test_metrics_of_several_workers_add_up(start_dockyard: StartDockyard) -> None:
    registry = start_dockyard(workers=2)
    key = 'registry_http_requests_total{code="200",handler="catalog",method="GET"}'
    folder = _metrics_folder(registry)

    def counted_by_each_worker() -> list[float]:
        counts = []
        for path in folder.glob("*.json"):
            with contextlib.suppress(ValueError):  # being replaced as we read it
                rows = json.loads(path.read_bytes())["registry_http_requests_total"]
                counts.append(sum(v for labels, v in rows if labels[0] == "catalog"))
        return counts

    def get_catalog(_: int) -> None:
        # A connection each, several at once, so that the kernel hands some to each worker.
        assert httpx.get(f"{registry.url}/v2/_catalog").status_code == 200

    requests = 0
    with ThreadPoolExecutor(8) as pool:
        while sum(1 for count in counted_by_each_worker() if count > 0) < 2:
            assert requests < 4000, "after 4000 requests, one worker still counted none"
            list(pool.map(get_catalog, range(8)))
            requests += 8

    def counted() -> bool:
        return scrape(f"{registry.debug_url}/metrics").get(key) == requests

    wait_for(counted, 30, f"{requests} requests counted across both workers")


def _metrics_folder(registry: Dockyard) -> Path:
    """The run's private folder where each worker shares its tables: ``metrics/`` in the
    serving process's temporary folder, the one holding a fresh ``<pid>.json`` of every
    worker ``/debug/vars`` lists (folders of killed servers of other tests stay behind)."""

    def found() -> Path | None:
        workers = httpx.get(f"{registry.debug_url}/debug/vars").json().get("workers", {})
        if len(workers) < 2:
            return None
        for folder in Path(tempfile.gettempdir()).glob("dockyard-*/metrics"):
            snapshots = [folder / f"{pid}.json" for pid in workers]
            with contextlib.suppress(OSError):
                if all(time.time() - path.stat().st_mtime < 10 for path in snapshots):
                    return folder
        return None

    folder: Path = wait_for(found, 30, "both workers' first snapshots")
    return folder


def test_debug_listener_and_probes_need_no_credentials_while_the_api_does(
    start_dockyard: StartDockyard, tmp_path
) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_bytes(b"alice:" + bcrypt.hashpw(b"secret", bcrypt.gensalt(rounds=4)) + b"\n")
    registry = start_dockyard({"auth": {"htpasswd": {"realm": "test", "path": str(htpasswd)}}})

    failures = 'dockyard_auth_failures_total{code="401"}'
    refused_before = scrape(f"{registry.debug_url}/metrics")[failures]
    assert httpx.get(f"{registry.url}/v2/").status_code == 401
    assert httpx.get(f"{registry.url}/v2/", auth=("alice", "secret")).status_code == 200
    for url in (
        f"{registry.url}/livez",
        f"{registry.debug_url}/livez",
        f"{registry.debug_url}/debug/vars",
        f"{registry.debug_url}/metrics",
    ):
        assert httpx.get(url).status_code == 200, url
    # Readiness answers without credentials too; whether it is ready is not this test's
    # question (a storage probe timing out on a loaded machine rightly says 503).
    for url in (
        f"{registry.url}/readyz",
        f"{registry.debug_url}/readyz",
        f"{registry.debug_url}/debug/health",
    ):
        assert httpx.get(url).status_code in (200, 503), url
    assert "memstats" in httpx.get(f"{registry.debug_url}/debug/vars").json()
    assert scrape(f"{registry.debug_url}/metrics")[failures] == refused_before + 1


def test_cache_errors_are_counted_while_redis_is_down_and_pulls_still_succeed(
    start_dockyard: StartDockyard, redis_server: RedisServer
) -> None:
    registry = start_dockyard(
        {"redis": {"addr": redis_server.addr}, "storage": {"cache": {"blobdescriptor": "redis"}}}
    )
    image = Image.random()
    layer = f"/v2/team/app/blobs/{digest_of(image.layer)}"
    errors = "registry_storage_cache_errors_total"
    with httpx.Client(base_url=registry.url) as client:
        push_image(client, "team/app", "v1", image)
        assert client.get(layer).status_code == 200
        assert scrape(f"{registry.debug_url}/metrics")[errors] == 0

        redis_server.kill()
        for _ in range(3):
            pulled = client.get(layer)
            assert (pulled.status_code, pulled.content) == (200, image.layer)

    assert scrape(f"{registry.debug_url}/metrics")[errors] >= 3


def test_periodic_collections_and_scrubs_are_counted_by_result(
    start_dockyard: StartDockyard,
) -> None:
    maintenance = {
        "gc": {"enabled": True, "interval": "1s"},
        "scrub": {"enabled": True, "interval": "1s"},
    }
    registry = start_dockyard({"storage": {"maintenance": maintenance}})

    def both_ran() -> dict[str, float]:
        metrics = scrape(f"{registry.debug_url}/metrics")
        runs = {
            job: metrics.get(f'dockyard_{job}_runs_total{{result="success"}}', 0)
            for job in ("gc", "scrub")
        }
        return runs if all(runs.values()) else {}

    wait_for(both_ran, 60, "a counted collection and scrub")


def test_refused_passwords_and_rate_limit_refusals_are_counted(
    start_dockyard: StartDockyard, tmp_path: Path
) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_bytes(b"alice:" + bcrypt.hashpw(b"secret", bcrypt.gensalt(rounds=4)) + b"\n")
    auth = {
        "htpasswd": {"realm": "test", "path": str(htpasswd)},
        "ratelimit": {"attempts": 2, "window": "1m", "lockout": "1m"},
    }
    registry = start_dockyard({"auth": auth})
    failures = 'dockyard_auth_failures_total{code="401"}'
    before = scrape(f"{registry.debug_url}/metrics")[failures]  # the start-up probe's
    statuses = [
        httpx.get(f"{registry.url}/v2/", auth=("alice", "wrong")).status_code for _ in range(4)
    ]
    assert statuses[:2] == [401, 401]
    assert statuses[2:] == [429, 429]

    metrics = scrape(f"{registry.debug_url}/metrics")
    assert metrics[failures] == before + 2
    assert metrics["dockyard_rate_limit_refusals_total"] == 2
