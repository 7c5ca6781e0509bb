"""skopeo against a real ``dockyard serve``: copy in and out, inspect, list, delete, mount."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from e2e_images import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    DirLayout,
    Image,
    OciLayout,
    sha256,
)
from e2e_processes import ServerProcess, copy, skopeo

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


def test_multilayer_image_copies_in_and_out_with_identical_digests(
    dockyard: ServerProcess, layout: OciLayout, tmp_path: Path
) -> None:
    image = layout.add_image("v1", layers=4)
    copy(layout.ref("v1"), f"docker://{dockyard.host}/library/app:v1")
    assert_served(dockyard, "library/app", image)
    assert registry_manifest(dockyard, "library/app", "v1").content == image.manifest

    pulled = OciLayout(tmp_path / "pulled")
    copy(f"docker://{dockyard.host}/library/app:v1", pulled.ref("v1"))
    assert_same_in_layout(pulled, "v1", image)


def test_multi_arch_index_copies_in_and_out_with_all(
    dockyard: ServerProcess, layout: OciLayout, tmp_path: Path
) -> None:
    index = layout.add_index(
        "multi", platforms=(("linux", "amd64"), ("linux", "arm64"), ("linux", "s390x"))
    )
    copy(layout.ref("multi"), f"docker://{dockyard.host}/multi/arch:1", "--all")
    assert_served(dockyard, "multi/arch", index)

    pulled = OciLayout(tmp_path / "pulled")
    copy(f"docker://{dockyard.host}/multi/arch:1", pulled.ref("1"), "--all")
    assert_same_in_layout(pulled, "1", index)


def test_docker_schema2_image_round_trips_byte_exact(
    dockyard: ServerProcess, layout: OciLayout, tmp_path: Path
) -> None:
    layout.add_image("v1", layers=3)
    copy(layout.ref("v1"), f"docker://{dockyard.host}/docker/image:v2s2", "--format", "v2s2")
    response = registry_manifest(dockyard, "docker/image", "v2s2")
    assert response.headers["content-type"] == DOCKER_MANIFEST
    pushed = response.content
    document = json.loads(pushed)
    assert document["mediaType"] == DOCKER_MANIFEST
    assert response.headers["docker-content-digest"] == sha256(pushed)

    pulled = DirLayout(tmp_path / "pulled")
    copy(f"docker://{dockyard.host}/docker/image:v2s2", pulled.ref)
    assert pulled.manifest() == pushed
    for descriptor in [document["config"], *document["layers"]]:
        data = pulled.blob(descriptor["digest"])
        assert sha256(data) == descriptor["digest"]
        assert len(data) == descriptor["size"]


def test_inspect_reports_the_manifest_digest_and_platform(
    dockyard: ServerProcess, layout: OciLayout
) -> None:
    image = layout.add_image("v1", architecture="arm64")
    copy(layout.ref("v1"), f"docker://{dockyard.host}/inspect/me:v1")
    report = json.loads(
        skopeo("inspect", "--tls-verify=false", f"docker://{dockyard.host}/inspect/me:v1")
    )
    assert report["Digest"] == image.digest
    assert report["Architecture"] == "arm64"
    assert report["Layers"] == image.layers
    raw = skopeo(
        "inspect", "--raw", "--tls-verify=false", f"docker://{dockyard.host}/inspect/me:v1"
    )
    assert raw.encode() == image.manifest
    config = skopeo(
        "inspect",
        "--config",
        "--raw",
        "--tls-verify=false",
        f"docker://{dockyard.host}/inspect/me:v1",
    )
    assert sha256(config.encode()) == image.config


def test_list_tags_returns_every_tag_sorted(dockyard: ServerProcess, layout: OciLayout) -> None:
    layout.add_image("v1", layers=1)
    for tag in ["latest", "1.0", "b", "A"]:
        copy(layout.ref("v1"), f"docker://{dockyard.host}/tags/repo:{tag}")
    listing = json.loads(
        skopeo("list-tags", "--tls-verify=false", f"docker://{dockyard.host}/tags/repo")
    )
    assert listing["Tags"] == ["1.0", "A", "b", "latest"]


def test_delete_removes_the_manifest_and_its_tags(
    dockyard: ServerProcess, layout: OciLayout
) -> None:
    image = layout.add_image("v1", layers=1)
    copy(layout.ref("v1"), f"docker://{dockyard.host}/doomed/repo:v1")
    skopeo("delete", "--tls-verify=false", f"docker://{dockyard.host}/doomed/repo:v1")
    gone = httpx.get(f"{dockyard.url}/v2/doomed/repo/manifests/{image.digest}")
    assert gone.status_code == 404
    assert gone.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    tags = httpx.get(f"{dockyard.url}/v2/doomed/repo/tags/list").json()
    assert not tags.get("tags")


def test_copy_between_repositories_mounts_every_layer(
    dockyard: ServerProcess, layout: OciLayout
) -> None:
    image = layout.add_image("v1", layers=3)
    copy(layout.ref("v1"), f"docker://{dockyard.host}/team/source:v1")
    copy(f"docker://{dockyard.host}/team/source:v1", f"docker://{dockyard.host}/team/target:v1")
    assert_served(dockyard, "team/target", image)

    mounted = mounts(dockyard.stdout(), "team/target")
    assert mounted.get("team/source", set()) >= set(image.layers)


def mounts(access_log: str, repository: str) -> dict[str, set[str]]:
    """Blobs mounted into ``repository`` (answered 201), by source repository."""
    found: dict[str, set[str]] = {}
    for path, status in re.findall(
        rf'"POST (/v2/{repository}/blobs/uploads/\?\S+) HTTP/1.1" (\d+)', access_log
    ):
        query = parse_qs(urlsplit(path).query)
        if status == "201" and "mount" in query and "from" in query:
            found.setdefault(query["from"][0], set()).add(query["mount"][0])
    return found
