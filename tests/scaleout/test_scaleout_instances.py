"""Two ``dockyard serve`` instances on one S3 bucket and one Redis: any request of an
upload may land on either, and whatever one commits the other serves at once."""

from __future__ import annotations

import httpx
from e2e_processes import ServerProcess
from redis import Redis
from scaleout_client import (
    OCI_MANIFEST,
    MiB,
    chunked_upload,
    digest_of,
    image_manifest,
    monolithic_upload,
    on,
    random_bytes,
)
from scaleout_cluster import Cluster, kill

from dockyard.digest import Digest
from dockyard.storage.cache.redis import blob_key, link_key

NAME = "scale/out"


def test_chunked_upload_alternating_between_instances_completes(
    two_instances: tuple[ServerProcess, ServerProcess], client: httpx.Client
) -> None:
    a, b = two_instances
    # Chunks over and under S3's 5 MiB part minimum, and a tiny last one.
    chunks = [random_bytes(6 * MiB), random_bytes(1 * MiB), random_bytes(5 * MiB + 3), b"end"]
    digest, used = chunked_upload(client, [a.url, b.url], NAME, chunks)
    assert used == [a.url, b.url, a.url, b.url, a.url, b.url]
    for instance in two_instances:
        response = client.get(f"{instance.url}/v2/{NAME}/blobs/{digest}")
        assert response.status_code == 200
        assert digest_of(response.content) == digest


def test_upload_progress_is_reported_by_the_other_instance(
    two_instances: tuple[ServerProcess, ServerProcess], client: httpx.Client
) -> None:
    a, b = two_instances
    started = client.post(f"{a.url}/v2/{NAME}/blobs/uploads/")
    chunk = random_bytes(100_000)
    patched = client.patch(
        on(a.url, started.headers["location"]),
        content=chunk,
        headers={"Content-Range": f"0-{len(chunk) - 1}"},
    )
    status = client.get(on(b.url, patched.headers["location"]))
    assert status.status_code == 204
    assert status.headers["range"] == f"0-{len(chunk) - 1}"


def test_out_of_order_chunk_is_refused_by_the_other_instance(
    two_instances: tuple[ServerProcess, ServerProcess], client: httpx.Client
) -> None:
    a, b = two_instances
    started = client.post(f"{a.url}/v2/{NAME}/blobs/uploads/")
    patched = client.patch(
        on(a.url, started.headers["location"]), content=b"x" * 10, headers={"Content-Range": "0-9"}
    )
    refused = client.patch(
        on(b.url, patched.headers["location"]), content=b"y" * 10, headers={"Content-Range": "5-14"}
    )
    assert refused.status_code == 416
    assert refused.headers["range"] == "0-9"


def test_instance_killed_mid_upload_the_other_finishes_it(
    cluster: Cluster, two_instances: tuple[ServerProcess, ServerProcess], client: httpx.Client
) -> None:
    a, b = two_instances
    first, second = random_bytes(7 * MiB), random_bytes(2 * MiB + 1)
    started = client.post(f"{a.url}/v2/{NAME}/blobs/uploads/")
    patched = client.patch(
        on(a.url, started.headers["location"]),
        content=first,
        headers={"Content-Range": f"0-{len(first) - 1}"},
    )
    assert patched.status_code == 202
    kill(a)
    resumed = client.patch(
        on(b.url, patched.headers["location"]),
        content=second,
        headers={"Content-Range": f"{len(first)}-{len(first) + len(second) - 1}"},
    )
    assert resumed.status_code == 202, resumed.text
    digest = digest_of(first + second)
    done = client.put(on(b.url, resumed.headers["location"], digest=digest))
    assert done.status_code == 201, done.text
    assert digest_of(client.get(f"{b.url}/v2/{NAME}/blobs/{digest}").content) == digest
    # A replacement instance serves it too.
    c = cluster.start_instance()
    assert client.head(f"{c.url}/v2/{NAME}/blobs/{digest}").status_code == 200


def test_manifest_pushed_on_one_instance_is_served_by_the_other_at_once(
    two_instances: tuple[ServerProcess, ServerProcess], client: httpx.Client
) -> None:
    a, b = two_instances
    config, layer = b'{"architecture":"amd64","os":"linux"}', random_bytes(300_000)
    monolithic_upload(client, a.url, NAME, config)
    monolithic_upload(client, b.url, NAME, layer)
    manifest = image_manifest(config, [layer])
    pushed = client.put(
        f"{a.url}/v2/{NAME}/manifests/v1",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert pushed.status_code == 201, pushed.text
    for reference in ("v1", digest_of(manifest)):
        served = client.get(
            f"{b.url}/v2/{NAME}/manifests/{reference}", headers={"Accept": OCI_MANIFEST}
        )
        assert served.status_code == 200
        assert served.content == manifest


def test_blob_deleted_on_one_instance_is_unknown_on_the_other(
    two_instances: tuple[ServerProcess, ServerProcess], client: httpx.Client
) -> None:
    a, b = two_instances
    digest = monolithic_upload(client, a.url, NAME, random_bytes(50_000))
    # Both instances have looked it up, so Redis holds it.
    assert client.head(f"{a.url}/v2/{NAME}/blobs/{digest}").status_code == 200
    assert client.head(f"{b.url}/v2/{NAME}/blobs/{digest}").status_code == 200
    assert client.delete(f"{a.url}/v2/{NAME}/blobs/{digest}").status_code == 202
    assert client.head(f"{b.url}/v2/{NAME}/blobs/{digest}").status_code == 404
    assert client.get(f"{b.url}/v2/{NAME}/blobs/{digest}").status_code == 404


def test_instances_keep_serving_when_redis_is_killed(
    cluster: Cluster, two_instances: tuple[ServerProcess, ServerProcess], client: httpx.Client
) -> None:
    a, b = two_instances
    before = monolithic_upload(client, a.url, NAME, random_bytes(40_000))
    assert client.head(f"{b.url}/v2/{NAME}/blobs/{before}").status_code == 200
    cluster.redis.kill()
    assert client.head(f"{b.url}/v2/{NAME}/blobs/{before}").status_code == 200
    chunks = [random_bytes(3 * MiB), random_bytes(MiB)]
    after, _ = chunked_upload(client, [b.url, a.url], NAME, chunks)
    assert digest_of(client.get(f"{a.url}/v2/{NAME}/blobs/{after}").content) == after
    assert client.delete(f"{b.url}/v2/{NAME}/blobs/{before}").status_code == 202
    assert client.head(f"{a.url}/v2/{NAME}/blobs/{before}").status_code == 404


def test_instances_serve_from_s3_and_share_the_redis_cache(
    cluster: Cluster, two_instances: tuple[ServerProcess, ServerProcess], client: httpx.Client
) -> None:
    a, b = two_instances
    digest = monolithic_upload(client, a.url, NAME, random_bytes(10_000))
    assert client.head(f"{b.url}/v2/{NAME}/blobs/{digest}").status_code == 200
    assert "serving s3 storage" in a.stderr()
    redis = Redis(host="127.0.0.1", port=cluster.redis.port)
    try:
        assert redis.exists(blob_key(Digest.parse(digest))) == 1
        assert redis.exists(link_key(NAME, Digest.parse(digest))) == 1
    finally:
        redis.close()


def test_inmemory_caches_do_not_serve_a_blob_deleted_on_another_instance(
    cluster: Cluster, client: httpx.Client
) -> None:
    a = cluster.start_instance(REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR="inmemory")
    b = cluster.start_instance(REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR="inmemory")
    digest = monolithic_upload(client, a.url, NAME, random_bytes(20_000))
    for _ in range(2):
        assert client.head(f"{b.url}/v2/{NAME}/blobs/{digest}").status_code == 200
    assert client.delete(f"{a.url}/v2/{NAME}/blobs/{digest}").status_code == 202
    assert client.head(f"{b.url}/v2/{NAME}/blobs/{digest}").status_code == 404
