"""Assertions shared by the end-to-end tests: a registry or a layout holds an image."""

from __future__ import annotations

import httpx
from e2e_images import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Image,
    OciLayout,
    sha256,
)
from e2e_processes import ServerProcess

ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])


def registry_manifest(server: ServerProcess, repository: str, reference: str) -> httpx.Response:
    response = httpx.get(
        f"{server.url}/v2/{repository}/manifests/{reference}", headers={"Accept": ACCEPT}
    )
    assert response.status_code == 200, response.text
    return response


def assert_served(server: ServerProcess, repository: str, image: Image) -> None:
    """The registry holds ``image`` byte for byte: manifest, children and every blob."""
    response = registry_manifest(server, repository, image.digest)
    assert response.headers["docker-content-digest"] == image.digest
    assert response.headers["content-type"] == image.media_type
    assert response.content == image.manifest
    for child in image.children:
        assert_served(server, repository, child)
    for digest, data in image.blobs.items():
        blob = httpx.get(f"{server.url}/v2/{repository}/blobs/{digest}", follow_redirects=True)
        assert blob.status_code == 200
        assert blob.headers["docker-content-digest"] == digest
        assert sha256(blob.content) == digest
        assert blob.content == data


def assert_same_in_layout(pulled: OciLayout, tag: str, image: Image) -> None:
    """The layout skopeo wrote holds ``image`` with identical digests and bytes."""
    digest, media_type = pulled.resolve(tag)
    assert (digest, media_type) == (image.digest, image.media_type)
    assert pulled.blob(image.digest) == image.manifest
    for child in image.children:
        assert pulled.blob(child.digest) == child.manifest
    for blob_digest, data in image.all_blobs().items():
        assert pulled.blob(blob_digest) == data
