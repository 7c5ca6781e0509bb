"""Registries sharing one storage root see each other's changes at once.

dockyard answers hot reads (tag links, revision links, blob links) from a memory kept
true by inotify. These tests change a repository through one server — another
``dockyard serve`` or the reference registry, which rewrites links in place — and read
it through a dockyard that had just read (and remembered) the old state: the first
read after the change's response must already see it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_processes import ServerProcess, StartDockyard, StartReference

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
REPOSITORY = "shared/app"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(server: ServerProcess, data: bytes) -> str:
    """POST an upload, then PUT the whole blob with its digest (both registries do it)."""
    digest = digest_of(data)
    started = httpx.post(f"{server.url}/v2/{REPOSITORY}/blobs/uploads/")
    assert started.status_code == 202, started.text
    location = httpx.URL(server.url).join(started.headers["location"])
    finished = httpx.put(location.copy_merge_params({"digest": digest}), content=data)
    assert finished.status_code == 201, finished.text
    return digest


def push_image(server: ServerProcess, tag: str) -> str:
    """Push a fresh one-layer image as ``tag``; return its manifest digest."""
    config, layer = os.urandom(64), os.urandom(256)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": push_blob(server, config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": push_blob(server, layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    response = httpx.put(
        f"{server.url}/v2/{REPOSITORY}/manifests/{tag}",
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201, response.text
    return digest_of(manifest)


def served_digest(server: ServerProcess, reference: str, method: str = "GET") -> str | int:
    """The digest ``server`` answers for the manifest, or the status if it has none."""
    response = httpx.request(
        method,
        f"{server.url}/v2/{REPOSITORY}/manifests/{reference}",
        headers={"Accept": OCI_MANIFEST},
    )
    if response.status_code != 200:
        return response.status_code
    return response.headers["docker-content-digest"]


def warm(server: ServerProcess, reference: str, expected: str) -> None:
    """Read the manifest a few times (GET and HEAD), so the server remembers it."""
    for method in ("GET", "HEAD", "GET", "HEAD"):
        assert served_digest(server, reference, method) == expected


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "shared-root"


def test_tag_moved_through_one_instance_is_served_at_once_by_another(
    start_dockyard: StartDockyard, root: Path
) -> None:
    writer, reader = start_dockyard(root), start_dockyard(root)
    for _ in range(5):
        digest = push_image(writer, "latest")
        assert served_digest(reader, "latest") == digest
        assert served_digest(reader, "latest", "HEAD") == digest
        warm(reader, "latest", digest)


def test_tag_deleted_through_one_instance_is_unknown_at_once_to_another(
    start_dockyard: StartDockyard, root: Path
) -> None:
    writer, reader = start_dockyard(root), start_dockyard(root)
    warm(reader, "v1", push_image(writer, "v1"))
    assert httpx.delete(f"{writer.url}/v2/{REPOSITORY}/manifests/v1").status_code == 202
    assert served_digest(reader, "v1") == 404
    assert served_digest(reader, "v1", "HEAD") == 404


def test_manifest_deleted_through_one_instance_is_unknown_at_once_to_another(
    start_dockyard: StartDockyard, root: Path
) -> None:
    writer, reader = start_dockyard(root), start_dockyard(root)
    digest = push_image(writer, "v1")
    warm(reader, digest, digest)
    warm(reader, "v1", digest)
    assert httpx.delete(f"{writer.url}/v2/{REPOSITORY}/manifests/{digest}").status_code == 202
    assert served_digest(reader, digest) == 404
    assert served_digest(reader, "v1") == 404


@pytest.mark.parametrize("cache", [{}, {"cache": {"blobdescriptor": "inmemory"}}])
def test_blob_unlinked_through_one_instance_is_unknown_at_once_to_another(
    start_dockyard: StartDockyard, root: Path, cache: dict[str, Any]
) -> None:
    writer = start_dockyard(root, config_storage=cache)
    reader = start_dockyard(root, config_storage=cache)
    digest = push_blob(writer, os.urandom(128))
    blob_url = f"/v2/{REPOSITORY}/blobs/{digest}"
    for _ in range(3):
        assert httpx.head(reader.url + blob_url).status_code == 200
    assert httpx.delete(writer.url + blob_url).status_code == 202
    assert httpx.head(reader.url + blob_url).status_code == 404


def test_tag_moved_by_the_reference_registry_is_served_at_once_by_dockyard(
    start_dockyard: StartDockyard, start_reference: StartReference, root: Path
) -> None:
    reference, dockyard = start_reference(root), start_dockyard(root)
    for _ in range(5):
        digest = push_image(reference, "latest")
        assert served_digest(dockyard, "latest") == digest
        warm(dockyard, "latest", digest)


def listed_tags(server: ServerProcess) -> list[str]:
    response = httpx.get(f"{server.url}/v2/{REPOSITORY}/tags/list")
    assert response.status_code == 200, response.text
    tags: list[str] = response.json()["tags"]
    return tags


def test_tags_added_and_deleted_through_one_instance_are_listed_at_once_by_another(
    start_dockyard: StartDockyard, root: Path
) -> None:
    writer, reader = start_dockyard(root), start_dockyard(root)
    push_image(writer, "v1")
    for _ in range(3):
        assert listed_tags(reader) == ["v1"]
    push_image(writer, "v2")
    assert listed_tags(reader) == ["v1", "v2"]
    assert httpx.delete(f"{writer.url}/v2/{REPOSITORY}/manifests/v1").status_code == 202
    assert listed_tags(reader) == ["v2"]
