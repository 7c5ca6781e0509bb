"""A blob a collection swept is unknown to every instance at once, whatever its blob
descriptor cache remembered: two real servers on one storage root, `dockyard gc` run as
its own process, the in-memory caches (sweep journals) and a shared Redis."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from gc_helpers import StartServer
from redis_server import RedisServer, redis_server

from dockyard.manifest.base import OCI_MANIFEST

__all__ = ["redis_server"]


def _digest(content: bytes) -> str:
    return "sha256:" + hashlib.sha256(content).hexdigest()


def _upload(url: str, name: str, content: bytes) -> str:
    digest = _digest(content)
    response = httpx.post(f"{url}/v2/{name}/blobs/uploads/?digest={digest}", content=content)
    assert response.status_code == 201, response.text
    return digest


def _head(url: str, name: str, digest: str) -> int:
    return httpx.head(f"{url}/v2/{name}/blobs/{digest}").status_code


def _collect(config: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dockyard.cli", "gc", str(config), "--grace", "0s"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def _manifest(config: str, layer: str, sizes: tuple[int, int]) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config,
                "size": sizes[0],
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer,
                    "size": sizes[1],
                }
            ],
        }
    ).encode()


def _two_servers(
    tmp_path: Path, start_server: StartServer, storage: dict[str, Any], config: dict[str, Any]
) -> tuple[str, str, Path]:
    root = tmp_path / "root"
    first = start_server(root, name="first", storage=storage, config=config)
    second = start_server(root, name="second", storage=storage, config=config)
    return first.url, second.url, tmp_path / "first.yml"


_IN_MEMORY: dict[str, Any] = {"cache": {"blobdescriptor": "inmemory"}}


def test_blob_swept_while_another_instance_remembered_it_is_unknown_there_at_once(
    tmp_path: Path, start_server: StartServer
) -> None:
    first, second, config = _two_servers(tmp_path, start_server, _IN_MEMORY, {})
    orphan = _upload(first, "app", b"a layer whose manifest never came")
    assert _head(second, "app", orphan) == 200  # now in the second instance's memory
    assert _head(second, "app", orphan) == 200
    _collect(config)
    assert _head(second, "app", orphan) == 404
    assert _head(first, "app", orphan) == 404


def test_manifest_naming_a_blob_swept_behind_a_remembering_instance_is_refused_cleanly(
    tmp_path: Path, start_server: StartServer
) -> None:
    first, second, config = _two_servers(tmp_path, start_server, _IN_MEMORY, {})
    config_blob, layer = b'{"architecture":"amd64"}', b"a layer uploaded too early"
    config_digest = _upload(first, "app", config_blob)
    layer_digest = _upload(first, "app", layer)
    assert _head(second, "app", layer_digest) == 200
    _collect(config)
    body = _manifest(config_digest, layer_digest, (len(config_blob), len(layer)))
    headers = {"Content-Type": OCI_MANIFEST}
    refused = httpx.put(f"{second}/v2/app/manifests/v1", content=body, headers=headers)
    assert refused.status_code == 400
    assert {e["code"] for e in refused.json()["errors"]} == {"MANIFEST_BLOB_UNKNOWN"}
    # The client's retry uploads again (the HEAD says unknown), and the push completes.
    for content in (config_blob, layer):
        assert _head(second, "app", _digest(content)) == 404
        _upload(second, "app", content)
    accepted = httpx.put(f"{second}/v2/app/manifests/v1", content=body, headers=headers)
    assert accepted.status_code == 201, accepted.text
    assert httpx.get(f"{first}/v2/app/blobs/{layer_digest}").content == layer


def test_blob_swept_is_unknown_to_every_instance_sharing_a_redis_cache(
    tmp_path: Path, start_server: StartServer, redis_server: RedisServer
) -> None:
    storage = {"cache": {"blobdescriptor": "redis"}}
    redis = {"redis": {"addr": redis_server.addr}}
    first, second, config = _two_servers(tmp_path, start_server, storage, redis)
    orphan = _upload(first, "app", b"a layer both instances find in Redis")
    assert _head(second, "app", orphan) == 200
    assert _head(first, "app", orphan) == 200
    _collect(config)
    assert _head(second, "app", orphan) == 404
    assert _head(first, "app", orphan) == 404


@pytest.mark.parametrize("swept", [True, False])
def test_a_remembered_blob_a_collection_kept_is_still_answered(
    tmp_path: Path, start_server: StartServer, swept: bool
) -> None:
    first, second, config = _two_servers(tmp_path, start_server, _IN_MEMORY, {})
    kept = _upload(first, "app", b"a config")
    layer = _upload(first, "app", b"a layer")
    body = _manifest(kept, layer, (len(b"a config"), len(b"a layer")))
    pushed = httpx.put(
        f"{first}/v2/app/manifests/v1", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert pushed.status_code == 201
    orphan = _upload(first, "app", b"garbage") if swept else None
    assert _head(second, "app", kept) == 200
    _collect(config)
    assert _head(second, "app", kept) == 200
    if orphan is not None:
        assert _head(second, "app", orphan) == 404
