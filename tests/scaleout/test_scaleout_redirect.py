"""Blob downloads on S3: a ``307`` to a presigned URL that the object store serves, unless
``storage.redirect.disable`` is set; ``HEAD`` is always answered by the registry."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from e2e_processes import ServerProcess
from scaleout_client import digest_of, monolithic_upload, random_bytes
from scaleout_cluster import Cluster

NAME = "redirect/me"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as http:
        yield http


def test_blob_get_redirects_to_a_presigned_url_the_object_store_serves(
    cluster: Cluster, client: httpx.Client
) -> None:
    instance = cluster.start_instance()
    data = random_bytes(200_000)
    digest = monolithic_upload(client, instance.url, NAME, data)
    response = client.get(f"{instance.url}/v2/{NAME}/blobs/{digest}")
    assert response.status_code == 307
    assert response.headers["docker-content-digest"] == digest
    location = response.headers["location"]
    assert location.startswith(cluster.seaweedfs.endpoint + "/")
    assert "X-Amz-Signature" in parse_qs(urlsplit(location).query)
    fetched = httpx.get(location, timeout=60)
    assert fetched.status_code == 200
    assert digest_of(fetched.content) == digest


def test_presigned_url_carries_no_credentials_in_clear(
    cluster: Cluster, client: httpx.Client
) -> None:
    instance = cluster.start_instance()
    digest = monolithic_upload(client, instance.url, NAME, b"some bytes")
    location = client.get(f"{instance.url}/v2/{NAME}/blobs/{digest}").headers["location"]
    assert cluster.seaweedfs.secret_key not in location


def test_blob_head_is_answered_by_the_registry(cluster: Cluster, client: httpx.Client) -> None:
    instance = cluster.start_instance()
    data = random_bytes(12_345)
    digest = monolithic_upload(client, instance.url, NAME, data)
    response = client.head(f"{instance.url}/v2/{NAME}/blobs/{digest}")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(data))
    assert response.headers["docker-content-digest"] == digest
    assert "location" not in response.headers


def test_redirect_disabled_streams_the_blob(cluster: Cluster, client: httpx.Client) -> None:
    instance = cluster.start_instance(REGISTRY_STORAGE_REDIRECT_DISABLE="true")
    data = random_bytes(3 * 1024 * 1024 + 7)
    digest = monolithic_upload(client, instance.url, NAME, data)
    response = client.get(f"{instance.url}/v2/{NAME}/blobs/{digest}")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(data))
    assert response.content == data


def test_redirect_disabled_serves_ranges(cluster: Cluster, client: httpx.Client) -> None:
    instance = cluster.start_instance(REGISTRY_STORAGE_REDIRECT_DISABLE="true")
    data = random_bytes(100_000)
    digest = monolithic_upload(client, instance.url, NAME, data)
    response = client.get(
        f"{instance.url}/v2/{NAME}/blobs/{digest}", headers={"Range": "bytes=1000-1999"}
    )
    assert response.status_code == 206
    assert response.content == data[1000:2000]


def test_unknown_blob_is_not_redirected(cluster: Cluster, client: httpx.Client) -> None:
    instance: ServerProcess = cluster.start_instance()
    response = client.get(f"{instance.url}/v2/{NAME}/blobs/{digest_of(b'never pushed')}")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "BLOB_UNKNOWN"


def test_range_request_follows_the_redirect_to_a_partial_answer(
    cluster: Cluster, client: httpx.Client
) -> None:
    instance = cluster.start_instance()
    data = random_bytes(100_000)
    digest = monolithic_upload(client, instance.url, NAME, data)
    response = client.get(
        f"{instance.url}/v2/{NAME}/blobs/{digest}",
        headers={"Range": "bytes=500-1499"},
        follow_redirects=True,
    )
    assert response.status_code == 206
    assert response.content == data[500:1500]
